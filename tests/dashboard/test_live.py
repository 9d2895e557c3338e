"""The wall screen's live state: newest values win, today's totals count each reading once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from canteen.cold_units import DEFAULT_RANGES, UnitKind, UnitState, guess_kind
from dashboard.live import SPARK_BUCKET_MS, LiveState
from dashboard.sections import section, snapshot
from dashboard.settings import DashboardSettings
from protocol import (
    DoorReading,
    OccupancyReading,
    Status,
    TemperatureReading,
    WasteReading,
    epoch_ms,
)

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SETTINGS = DashboardSettings(timezone="UTC", waste_target_g=5000, dining_capacity=80)


def _state(tz: str = "UTC") -> LiveState:
    return LiveState(ZoneInfo(tz), guess_kind, spark_window_ms=3_600_000)


def test_a_unit_shows_its_newest_reading_even_when_an_older_one_arrives_later() -> None:
    state = _state()
    state.apply_readings(
        "site-a", "cold-room", [TemperatureReading(sensor="fridge-1", ts=NOON, celsius=4.0)]
    )
    late = TemperatureReading(sensor="fridge-1", ts=NOON - timedelta(minutes=10), celsius=9.5)
    changed = state.apply_readings("site-a", "cold-room", [late])

    unit = state.site("site-a").cold["cold-room/fridge-1"]
    assert (unit.celsius, unit.ts_ms) == (4.0, epoch_ms(NOON))
    assert changed == {"cold:cold-room/fridge-1"}
    assert len(unit.spark) == 2, "the late reading still belongs on the curve"


def test_tile_state_follows_the_units_kind_and_range() -> None:
    state = _state()
    readings = [
        TemperatureReading(sensor="fridge-1", ts=NOON, celsius=6.0),
        TemperatureReading(sensor="freezer-1", ts=NOON, celsius=-11.0),
        TemperatureReading(sensor="fridge-2", ts=NOON, celsius=3.0),
    ]
    state.apply_readings("site-a", "cold-room", readings)
    tiles = {
        tile["sensor"]: tile
        for tile in snapshot(state.site("site-a"), SETTINGS, epoch_ms(NOON), 0)["cold"]
    }
    assert tiles["fridge-1"]["state"] == "warning"
    assert tiles["freezer-1"]["kind"] == "freezer"
    assert tiles["freezer-1"]["state"] == "critical"
    assert tiles["fridge-2"]["state"] == "ok"


def test_safe_ranges_match_the_food_safety_defaults() -> None:
    fridge, freezer = DEFAULT_RANGES[UnitKind.FRIDGE], DEFAULT_RANGES[UnitKind.FREEZER]
    hot = DEFAULT_RANGES[UnitKind.HOT_HOLDING]
    assert [fridge.state(c) for c in (5.0, 5.1, 8.0, 8.1)] == [
        UnitState.OK,
        UnitState.WARNING,
        UnitState.WARNING,
        UnitState.CRITICAL,
    ]
    assert freezer.state(-15.5) is UnitState.OK
    assert freezer.state(-13.0) is UnitState.WARNING
    assert hot.state(59.0) is UnitState.CRITICAL
    assert hot.state(70.0) is UnitState.OK
    assert fridge.state(None) is UnitState.UNKNOWN


def test_the_same_waste_drop_delivered_twice_counts_once() -> None:
    state = _state()
    drop = WasteReading(sensor="bin-plate", ts=NOON, grams=420.0, category="plate")
    other = WasteReading(sensor="bin-prep", ts=NOON, grams=80.0, category="prep")
    assert state.apply_readings("site-a", "waste-station", [drop, other]) == {"waste"}
    assert state.apply_readings("site-a", "waste-station", [drop]) == set()

    waste = section(state.site("site-a"), "waste", SETTINGS)
    assert waste is not None
    assert waste["waste"]["total_g"] == 500.0
    assert waste["waste"]["by_category"] == {
        "plate": 420.0,
        "prep": 80.0,
        "spoilage": 0.0,
        "overproduction": 0.0,
    }
    assert waste["waste"]["drops"] == 2


def test_yesterdays_readings_do_not_count_into_today_and_midnight_clears_the_totals() -> None:
    state = _state("Asia/Shanghai")
    # 23:30 in Shanghai on the 24th, then 00:30 on the 25th.
    before = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    after = before + timedelta(hours=1)
    state.apply_readings(
        "site-a", "ws", [WasteReading(sensor="b", ts=before, grams=100, category="plate")]
    )
    state.apply_readings(
        "site-a", "ws", [WasteReading(sensor="b", ts=after, grams=30, category="plate")]
    )
    late = WasteReading(sensor="b", ts=before + timedelta(minutes=1), grams=999, category="plate")
    state.apply_readings("site-a", "ws", [late])
    assert state.site("site-a").waste_g == {"plate": 30.0}

    assert state.roll_day(after + timedelta(hours=1)) == []
    assert state.roll_day(after + timedelta(days=1)) == ["site-a"]
    assert state.site("site-a").waste_g == {}


def test_dining_room_sums_entrances_and_keeps_todays_curve() -> None:
    state = _state()
    first = OccupancyReading(sensor="door-a", ts=NOON, entered=12, exited=2, present=30)
    later = OccupancyReading(
        sensor="door-a", ts=NOON + timedelta(minutes=20), entered=5, exited=10, present=25
    )
    side = OccupancyReading(sensor="door-b", ts=NOON, entered=3, exited=0, present=7)
    state.apply_readings("site-a", "entrance", [first, later])
    state.apply_readings("site-a", "side-door", [side])
    state.apply_readings("site-a", "entrance", [first])  # a re-delivery

    dining = snapshot(state.site("site-a"), SETTINGS, epoch_ms(NOON), 0)["dining"]
    assert dining["present"] == 32
    assert dining["entered"] == 20
    assert dining["exited"] == 12
    assert dining["capacity"] == 80
    assert dining["curve"] == [[epoch_ms(NOON), 37], [epoch_ms(NOON) + 15 * 60_000, 25]]


def test_door_and_device_status_keep_the_newest() -> None:
    state = _state()
    state.apply_readings(
        "site-a",
        "cold-room",
        [
            TemperatureReading(sensor="fridge-1", ts=NOON, celsius=3.0),
            DoorReading(sensor="fridge-1", ts=NOON, open=True),
            DoorReading(sensor="fridge-1", ts=NOON - timedelta(minutes=1), open=False),
        ],
    )
    assert state.site("site-a").cold["cold-room/fridge-1"].door_open is True

    online = Status(v=1, online=True, ts=NOON, backlog=12, clock_synced=True, refused=3)
    will = Status(v=1, online=False)
    state.apply_status("site-a", "cold-room", online, epoch_ms(NOON))
    changed = state.apply_status("site-a", "cold-room", will, epoch_ms(NOON) + 5000)
    device = section(state.site("site-a"), "device:cold-room", SETTINGS)
    assert changed == {"device:cold-room"}
    assert device == {
        "device": {
            "device": "cold-room",
            "online": False,
            "seen_ms": epoch_ms(NOON) + 5000,
            "backlog": 12,
            "clock_synced": True,
            "refused": 3,
        }
    }


def test_the_sparkline_keeps_only_its_window_and_an_update_carries_one_point() -> None:
    state = _state()  # a one-hour window
    for minute in range(0, 180, 2):
        reading = TemperatureReading(
            sensor="fridge-1", ts=NOON + timedelta(minutes=minute), celsius=3 + minute / 100
        )
        state.apply_readings("site-a", "cold-room", [reading])
    unit = state.site("site-a").cold["cold-room/fridge-1"]
    newest = epoch_ms(NOON + timedelta(minutes=178))
    assert min(unit.spark) >= newest - 3_600_000 - 8 * SPARK_BUCKET_MS
    assert max(unit.spark) == newest

    update = section(state.site("site-a"), "cold:cold-room/fridge-1", SETTINGS)
    assert update is not None
    assert update["cold"]["spark"] == [[newest, 3 + 178 / 100]]


def test_history_buckets_never_overwrite_a_live_value() -> None:
    state = _state()
    live = TemperatureReading(sensor="fridge-1", ts=NOON, celsius=7.5)
    state.apply_readings("site-a", "cold-room", [live])
    state.spark_point("site-a", "cold-room", "fridge-1", epoch_ms(NOON), 3.0)
    state.spark_point("site-a", "cold-room", "fridge-1", epoch_ms(NOON) - SPARK_BUCKET_MS, 3.0)
    spark = state.site("site-a").cold["cold-room/fridge-1"].spark
    assert spark[epoch_ms(NOON) - epoch_ms(NOON) % SPARK_BUCKET_MS] == 7.5
    assert len(spark) == 2
