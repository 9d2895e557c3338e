"""The live state's memory stays bounded under hours of hub_load-like traffic.

Counts, not timings: simulated time, so a day of readings takes a second. Each bound
comes from the window and the bucket size (a tile's sparkline), from the readings since
the kitchen's midnight (today's totals), or from the number of sections (a screen).
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from canteen.cold_units import guess_kind
from dashboard.counted import CountedReadings
from dashboard.live import SPARK_BUCKET_MS, LiveState
from dashboard.screens import Screens
from dashboard.sections import snapshot
from dashboard.settings import DashboardSettings
from protocol import Channel, DeviceTopic, Telemetry, TemperatureReading, epoch_ms

WINDOW_MS = 6 * 3_600_000
SPARK_BOUND = WINDOW_MS // SPARK_BUCKET_MS + 8  # the window's buckets and a few not yet pruned
START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
SETTINGS = DashboardSettings(timezone="Asia/Shanghai")


def test_thirty_hours_of_readings_keep_every_curve_and_todays_record_bounded() -> None:
    state = LiveState(ZoneInfo("Asia/Shanghai"), guess_kind, spark_window_ms=WINDOW_MS)
    view = state.site("site-a")
    step_ms, since_midnight = 5_000, 0
    start_ms = epoch_ms(START)
    for n in range(30 * 3_600_000 // step_ms):
        ts_ms = start_ms + n * step_ms
        if state.local_day(ts_ms) != view.day:
            since_midnight = 0
        for fridge in ("fridge-1", "fridge-2", "freezer-1"):
            state.temperature("site-a", "cold-room", fridge, ts_ms, 3.0 + n % 7)
        state.waste("site-a", "ws", "bin-plate", ts_ms, "plate", 50.0)
        state.occupancy("site-a", "door", "entrance", ts_ms, (n % 2, n % 3, 40))
        since_midnight += 2
        if n % 720 == 0:  # every simulated hour
            assert max(len(unit.spark) for unit in view.cold.values()) <= SPARK_BOUND
            assert len(view.counted) == since_midnight, "one record per reading since midnight"
            assert view.counted.stored_bytes() == 4 * since_midnight
            assert view.counted.hours() <= 2 * 25
            assert all(len(curve) <= 24 * 4 for curve in view.curve.values())
    picture = snapshot(view, SETTINGS, ts_ms, state.day_start_ms(START))
    assert all(len(tile["spark"]) <= SPARK_BOUND for tile in picture["cold"])
    assert min(len(tile["spark"]) for tile in picture["cold"]) >= WINDOW_MS // SPARK_BUCKET_MS


def test_a_counted_reading_costs_a_few_bytes_not_a_tuple() -> None:
    # The earlier set of (sensor, ts) tuples took about 180 bytes a reading: at
    # hub_load's 100 counted readings a second, 1 MB a minute until midnight.
    state = LiveState(ZoneInfo("UTC"), guess_kind, spark_window_ms=WINDOW_MS)
    start_ms = epoch_ms(START)
    state.waste("site-a", "ws", "bin-plate", start_ms - 1, "plate", 1.0)
    readings = 12_000  # 20 minutes of one waste and one entrance sensor at 5 readings/s each
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(readings // 2):
            ts_ms = start_ms + n * 200
            state.waste("site-a", "ws", "bin-plate", ts_ms, "plate", 50.0)
            state.occupancy("site-a", "door", "entrance", ts_ms, (1, 0, 40))
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(state.site("site-a").counted) == readings + 1
    assert (after - before) / readings < 12, f"{(after - before) / readings:.0f} bytes a reading"


@given(
    st.lists(
        st.tuples(st.sampled_from(["ws/a", "ws/b"]), st.integers(0, 3 * 3_600_000)),
        max_size=200,
    )
)
def test_counted_readings_agree_with_a_plain_set(readings: list[tuple[str, int]]) -> None:
    counted, plain = CountedReadings(), set[tuple[str, int]]()
    for sensor, ts_ms in readings:
        assert counted.add(sensor, ts_ms) == ((sensor, ts_ms) not in plain)
        plain.add((sensor, ts_ms))
    assert len(counted) == len(plain)
    assert all(reading in counted for reading in plain)
    assert ("ws/c", 0) not in counted
    counted.clear()
    assert len(counted) == 0
    assert counted.stored_bytes() == 0


def test_a_screen_that_never_draws_holds_one_mark_per_section_and_goes_when_it_leaves() -> None:
    screens = Screens(DashboardSettings(timezone="UTC"), None)
    slow = screens.connect("site-a")
    topic = DeviceTopic("site-a", "cold-room", Channel.TELEMETRY)
    for n in range(5_000):
        ts = START + timedelta(milliseconds=100 * n)
        readings = tuple(
            TemperatureReading(sensor=f"fridge-{i}", ts=ts, celsius=4.0) for i in range(3)
        )
        screens.take_telemetry(Telemetry(topic, n, ts, readings, ()))
    assert slow.changed == {f"cold:cold-room/fridge-{i}" for i in range(3)}
    screens.disconnect(slow)
    assert screens.connected == 0
