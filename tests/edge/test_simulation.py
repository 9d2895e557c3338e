"""The simulated kitchen behaves like a real one: run a day of its sensors on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest

from canteen.settings import MqttSettings
from edge.build import BuildContext, build_sources
from edge.simulation import DEVICES, SimClock, sites_for
from edge.simulation.clock import default_start
from edge.simulation.kitchen import device_configs
from edge.simulation.timeline import MEALS, first_tick
from protocol import (
    DoorReading,
    OccupancyReading,
    Reading,
    TemperatureReading,
    WasteCategory,
    WasteReading,
    device_topic,
    encode_telemetry,
    parse_telemetry,
    parse_topic,
)
from protocol.topics import Channel

KITCHEN_TZ = timezone(timedelta(hours=8))
MIDNIGHT = datetime(2026, 11, 20, tzinfo=KITCHEN_TZ)
DAY = timedelta(days=1)


class FakeTime:
    """A settable clock for the simulators and SimClock."""

    def __init__(self, start: datetime) -> None:
        self.moment = start
        self.seconds = 0.0

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.seconds


def simulate_day(seed: int = 1, site: str = "site-a") -> list[Reading]:
    """Poll every simulated source of a site every 7 minutes through one local day."""
    time = FakeTime(MIDNIGHT)
    readings: list[Reading] = []
    for config in device_configs(site, MqttSettings(), Path("unused")):
        time.moment = MIDNIGHT
        context = BuildContext(site, config.device, clock=time.now, seed=seed, tz=KITCHEN_TZ)
        sources = build_sources(config, context)
        last = MIDNIGHT + DAY - timedelta(seconds=1)
        while time.moment < last:
            time.moment = min(time.moment + timedelta(minutes=7), last)
            for source in sources:
                readings.extend(source.poll(time.moment))
    return readings


@pytest.fixture(scope="module")
def day() -> list[Reading]:
    return simulate_day()


def local_hour(reading: Reading) -> float:
    local = reading.ts.astimezone(KITCHEN_TZ)
    return local.hour + local.minute / 60


def temperatures(readings: list[Reading], sensor: str) -> list[float]:
    return [r.celsius for r in readings if isinstance(r, TemperatureReading) and r.sensor == sensor]


def test_sim_clock_replays_fast_but_never_runs_ahead_of_real_time() -> None:
    real = FakeTime(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    clock = SimClock(real.moment - timedelta(hours=1), 60.0, real.now, real.monotonic)
    seen = []
    for _ in range(200):
        real.seconds += 0.5
        real.moment += timedelta(seconds=0.5)
        seen.append(clock.now())
        assert seen[-1] <= real.moment
    assert seen[1] - seen[0] == timedelta(seconds=30)  # 60x while behind
    assert seen[-1] == real.moment  # caught up: follows real time
    assert seen == sorted(seen)


def test_sim_clock_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="aware"):
        SimClock(datetime(2026, 1, 1), 2.0)
    with pytest.raises(ValueError, match="positive"):
        SimClock(datetime.now(UTC), 0)


def test_a_fast_simulation_starts_a_day_ago() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert default_start(1440, now) == now - DAY
    assert default_start(1.0, now) == now


def test_every_site_has_the_kitchen_devices() -> None:
    assert sites_for(3) == ["site-a", "site-b", "site-c"]
    names = {d: [s["name"] for s in sensors] for d, sensors in DEVICES.items()}
    assert names == {
        "cold-room": ["fridge-1", "fridge-2", "freezer-1"],
        "waste-station": ["bin-plate", "bin-prep"],
        "entrance": ["dining-main"],
    }


def test_fridges_hold_near_3_degrees_and_freezers_near_minus_18(day: list[Reading]) -> None:
    for fridge in ("fridge-1", "fridge-2"):
        temps = temperatures(day, fridge)
        assert len(temps) == 2880  # one every 30 s
        assert sum(1 <= t <= 6 for t in temps) / len(temps) > 0.95
        assert max(temps) > 4.5  # defrosts and door openings show
    freezer = temperatures(day, "freezer-1")
    assert sum(-21 <= t <= -15 for t in freezer) / len(freezer) > 0.9
    assert -19 < sum(freezer) / len(freezer) < -16
    assert max(freezer) > -14  # a defrost lifts it a few degrees


def test_doors_open_a_few_times_an_hour_while_staffed(day: list[Reading]) -> None:
    doors = [r for r in day if isinstance(r, DoorReading) and r.sensor == "fridge-1"]
    openings = [r for r in doors if r.open]
    assert 20 <= len(openings) <= 120
    assert all(6 <= local_hour(r) < 20.1 for r in openings)
    gaps = [(b.ts - a.ts).total_seconds() for a, b in pairwise(doors)]
    assert max(gaps) <= 300  # reported at least every 5 minutes
    assert doors[-1].open is False or local_hour(doors[-1]) < 20.1


def test_waste_drops_cluster_in_meal_windows(day: list[Reading]) -> None:
    plate = [r for r in day if isinstance(r, WasteReading) and r.sensor == "bin-plate"]
    assert 100 <= len(plate) <= 250
    assert all(any(m.contains(local_hour(r)) for m in MEALS) for r in plate)
    assert all(50 <= r.grams <= 400 and r.category is WasteCategory.PLATE for r in plate)
    menu = {dish for meal in MEALS for dish in meal.menu}
    assert {r.dish for r in plate} - {None} <= menu
    lunch = sum(1 for r in plate if 11 <= local_hour(r) < 13)
    assert lunch > len(plate) / 3
    prep = [r for r in day if isinstance(r, WasteReading) and r.sensor == "bin-prep"]
    assert {r.category for r in prep} >= {WasteCategory.PREP}
    assert all(r.category is not WasteCategory.PLATE for r in prep)


def test_dining_room_fills_at_lunch_and_empties_at_night(day: list[Reading]) -> None:
    counts = [r for r in day if isinstance(r, OccupancyReading)]
    assert len(counts) == 1440  # one a minute
    present = 0
    for reading in counts:
        present += reading.entered - reading.exited
        assert reading.present == present >= 0
    assert 300 <= sum(r.entered for r in counts) <= 800
    busiest = max(counts, key=lambda r: r.present)
    assert 11 <= local_hour(busiest) < 13.5
    assert busiest.present >= 60
    assert all(r.present == 0 for r in counts if local_hour(r) >= 21 or local_hour(r) < 6)


def test_readings_are_valid_wire_readings_in_time_order(day: list[Reading]) -> None:
    topic = parse_topic(device_topic("site-a", "cold-room", Channel.TELEMETRY))
    hub_now = MIDNIGHT + DAY
    for start in range(0, len(day), 1000):
        batch = day[start : start + 1000]
        parsed = parse_telemetry(topic, encode_telemetry(1, hub_now, batch), hub_now)
        assert not parsed.rejected
    for sensor in ("fridge-1", "dining-main", "bin-plate"):
        stamps = [r.ts for r in day if r.sensor == sensor]
        assert stamps == sorted(stamps)
        assert MIDNIGHT <= stamps[0] and stamps[-1] < MIDNIGHT + DAY


def test_a_seed_reproduces_a_day_and_another_seed_changes_it(day: list[Reading]) -> None:
    assert simulate_day(seed=1) == day
    assert simulate_day(seed=2) != day
    assert simulate_day(seed=1, site="site-b") != day


def test_reading_grids_are_aligned_on_the_epoch() -> None:
    step = timedelta(seconds=30)
    tick = first_tick(datetime(2026, 11, 20, 3, 0, 10, 500, tzinfo=UTC), step)
    assert tick == datetime(2026, 11, 20, 3, 0, 30, tzinfo=UTC)
    assert first_tick(tick, step) == tick
