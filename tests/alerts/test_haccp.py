"""The HACCP log's figures: kitchen days, min / max / mean, check-time readings, excursions."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.alert_record import Alert
from alerts.haccp import (
    HaccpLog,
    LoggedUnit,
    LogPeriod,
    PeriodError,
    ProbeReading,
    TemperatureSpan,
    UnitDay,
    build_log,
)
from alerts.haccp_sources import read_unit_alerts
from alerts.kinds import AlertKey, AlertKind, Severity
from alerts.store import AlertStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY1, DAY2 = date(2026, 11, 22), date(2026, 11, 23)
LATER = datetime(2026, 12, 1, tzinfo=UTC)
"""A 'now' well after the period: every check time is due."""


def at(day: date, clock: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """A kitchen time as a UTC instant: at(DAY1, '08:00:00.001')."""
    return datetime.combine(day, time.fromisoformat(clock), tz).astimezone(UTC)


def fridge(sensor: str) -> LoggedUnit:
    return LoggedUnit(sensor, "fridge", 5.0, 8.0)


def reading(sensor: str, moment: datetime, celsius: float) -> ProbeReading:
    return ProbeReading(sensor, moment, celsius)


def make_log(
    readings: list[ProbeReading],
    alerts: tuple[Alert, ...] = (),
    period: LogPeriod | None = None,
    now: datetime = LATER,
) -> HaccpLog:
    period = period or LogPeriod(DAY1, DAY2, SHANGHAI)
    spans = [r.span() for r in readings]
    return build_log("site-a", period, spans, readings, alerts, fridge, now, "Asia/Shanghai")


def unit_day(log: HaccpLog, day: date, sensor: str) -> UnitDay:
    (found,) = (
        row
        for log_day in log.days
        if log_day.day == day
        for row in log_day.units
        if row.unit.sensor == sensor
    )
    return found


def alert(
    alert_id: int,
    since: datetime,
    cleared: datetime | None = None,
    *,
    sensor: str = "fridge-1",
    kind: AlertKind = AlertKind.TEMPERATURE,
) -> Alert:
    return Alert(
        id=alert_id,
        key=AlertKey("site-a", "node-1", sensor, kind),
        severity=Severity.CRITICAL,
        state="resolved" if cleared else "open",
        since=since,
        opened_at=since + timedelta(minutes=15),
        value=9.5,
        cleared_at=cleared,
        acknowledged_at=since + timedelta(minutes=20),
        acknowledged_by="Li Wei",
        resolved_at=cleared,
        resolved_by="Li Wei" if cleared else None,
        corrective_action="moved the stock to fridge-2",
        escalated_at=None,
        last_reminder_at=None,
        delivery="delivered",
    )


def test_day_figures_follow_the_kitchen_midnight_not_utc() -> None:
    log = make_log(
        [
            reading("fridge-1", at(DAY1, "23:50"), 3.0),
            reading("fridge-1", at(DAY2, "00:00"), 4.0),  # 16:00 UTC the day before
            reading("fridge-1", at(DAY2, "12:00"), 6.5),
            reading("fridge-1", at(DAY2, "23:59:59.999"), 2.0),
            reading("fridge-1", at(DAY2 + timedelta(days=1), "00:00"), 9.0),  # after the period
            reading("fridge-1", at(DAY1, "00:00") - timedelta(milliseconds=1), 9.0),  # before
        ]
    )
    first, second = unit_day(log, DAY1, "fridge-1"), unit_day(log, DAY2, "fridge-1")
    assert (first.readings, first.low, first.high, first.mean) == (1, 3.0, 3.0, 3.0)
    assert (second.readings, second.low, second.high) == (3, 2.0, 6.5)
    assert second.mean == pytest.approx((4.0 + 6.5 + 2.0) / 3)


def test_hourly_spans_give_the_same_days_as_the_raw_readings() -> None:
    shuffle = random.Random(4)
    start = at(DAY1, "00:00")
    readings = [
        reading(sensor, start + timedelta(seconds=shuffle.uniform(0, 2 * 86400)), celsius)
        for sensor in ("fridge-1", "freezer-1")
        for celsius in (round(shuffle.uniform(-20, 9), 2) for _ in range(500))
    ]
    buckets: dict[tuple[str, datetime], list[float]] = {}
    for r in readings:
        hour = r.at.replace(minute=0, second=0, microsecond=0)
        buckets.setdefault((r.sensor, hour), []).append(r.celsius)
    spans = [
        TemperatureSpan(sensor, hour, min(values), max(values), sum(values), len(values))
        for (sensor, hour), values in buckets.items()
    ]
    period = LogPeriod(DAY1, DAY2, SHANGHAI)
    from_spans = build_log("site-a", period, spans, readings, (), fridge, LATER)
    from_readings = make_log(readings)
    for day in (DAY1, DAY2):
        for sensor in ("fridge-1", "freezer-1"):
            a, b = unit_day(from_spans, day, sensor), unit_day(from_readings, day, sensor)
            assert (a.readings, a.low, a.high) == (b.readings, b.low, b.high)
            assert a.mean == pytest.approx(b.mean)
            assert a.checks == b.checks
    assert sum(unit_day(from_readings, d, "fridge-1").readings for d in (DAY1, DAY2)) == 500


def test_the_check_reading_is_the_last_at_or_before_the_check_time() -> None:
    log = make_log(
        [
            reading("fridge-1", at(DAY1, "07:40"), 1.0),
            reading("fridge-1", at(DAY1, "07:59:59"), 2.0),
            reading("fridge-1", at(DAY1, "08:00"), 3.0),  # exactly at: this is the one
            reading("fridge-1", at(DAY1, "08:00:00.001"), 4.0),  # after: never
            reading("fridge-1", at(DAY1, "13:45"), 5.0),  # exactly the tolerance before
            reading("fridge-1", at(DAY2, "07:44:59.999"), 6.0),  # too old for 08:00
            reading("fridge-1", at(DAY2, "14:30"), 7.0),
        ]
    )
    morning, afternoon = unit_day(log, DAY1, "fridge-1").checks
    assert (morning.check, morning.status, morning.celsius) == (time(8), "ok", 3.0)
    assert morning.at == at(DAY1, "08:00")
    assert (afternoon.status, afternoon.celsius, afternoon.at) == ("ok", 5.0, at(DAY1, "13:45"))
    morning, afternoon = unit_day(log, DAY2, "fridge-1").checks
    assert (morning.status, morning.celsius, morning.at) == ("missing", None, None)
    assert afternoon.status == "missing", "a reading after the check time does not count"


def test_a_check_time_still_to_come_is_not_yet() -> None:
    readings = [reading("fridge-1", at(DAY2, "07:55"), 3.5)]
    log = make_log(readings, now=at(DAY2, "10:00"))
    morning, afternoon = unit_day(log, DAY2, "fridge-1").checks
    assert (morning.status, morning.celsius) == ("ok", 3.5)
    assert (afternoon.status, afternoon.due) == ("pending", at(DAY2, "14:00"))


def test_a_unit_is_listed_every_day_even_without_readings() -> None:
    log = make_log([reading("fridge-1", at(DAY1, "08:00"), 3.0)])
    quiet = unit_day(log, DAY2, "fridge-1")
    assert (quiet.readings, quiet.low, quiet.high, quiet.mean) == (0, None, None, None)
    assert [c.status for c in quiet.checks] == ["missing", "missing"]
    assert [u.sensor for u in log.units] == ["fridge-1"]


def test_an_excursion_lasts_from_its_first_reading_beyond_to_back_in_range() -> None:
    overnight = alert(1, at(DAY1, "23:40"), at(DAY2, "00:25"))
    ongoing = alert(2, at(DAY2, "10:00"), sensor="fridge-2")
    log = make_log([], (ongoing, overnight), now=at(DAY2, "11:30"))
    for day in (DAY1, DAY2):
        (shown,) = unit_day(log, day, "fridge-1").excursions
        assert shown.alert.id == 1, "an excursion over midnight is listed on both days"
        assert (shown.minutes, shown.ongoing) == (45, False)
    assert unit_day(log, DAY1, "fridge-2").excursions == ()
    (still,) = unit_day(log, DAY2, "fridge-2").excursions
    assert (still.ongoing, still.minutes, still.end) == (True, 90, at(DAY2, "11:30"))
    assert [u.sensor for u in log.units] == ["fridge-1", "fridge-2"], "alerts name units too"


def test_only_the_units_alerts_touching_the_period_are_kept() -> None:
    alerts = (
        alert(1, at(DAY1, "00:00") - timedelta(hours=2), at(DAY1, "01:00")),  # began before
        alert(2, at(DAY1, "00:00") - timedelta(hours=3), at(DAY1, "00:00")),  # over by then
        alert(3, at(DAY2 + timedelta(days=1), "00:00"), None),  # after the period
        alert(4, at(DAY1, "09:00"), at(DAY1, "09:20"), sensor="", kind=AlertKind.DEVICE_OFFLINE),
        alert(5, at(DAY1, "10:00"), at(DAY1, "10:06"), kind=AlertKind.DOOR_OPEN),
        alert(6, at(DAY2, "00:00"), at(DAY2, "00:00")),  # zero length, at midnight
    )
    log = make_log([], alerts, now=at(DAY2, "12:00"))
    day1 = unit_day(log, DAY1, "fridge-1").excursions
    assert [(e.alert.id, e.minutes) for e in day1] == [(1, 180), (5, 6)]
    assert [e.alert.id for e in unit_day(log, DAY2, "fridge-1").excursions] == [6]
    assert [u.sensor for u in log.units] == ["fridge-1"]


def test_day_buckets_never_straddle_a_midnight_in_any_zone() -> None:
    assert LogPeriod(DAY1, DAY2, SHANGHAI).bucket_seconds() == 8 * 3600
    assert LogPeriod(DAY1, DAY2, UTC).bucket_seconds() == 86400
    assert LogPeriod(DAY1, DAY2, ZoneInfo("Asia/Kolkata")).bucket_seconds() == 1800
    assert LogPeriod(DAY1, DAY2, ZoneInfo("Asia/Kathmandu")).bucket_seconds() == 900
    london = LogPeriod(date(2026, 3, 28), date(2026, 3, 30), ZoneInfo("Europe/London"))
    assert london.bucket_seconds() == 3600
    lengths = [b - a for a, b in zip(london.edges(), london.edges()[1:], strict=False)]
    assert lengths == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]


def test_a_daylight_saving_day_has_23_hours_of_readings() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = date(2026, 3, 29)
    period = LogPeriod(spring, spring, berlin)
    start = at(spring, "00:00", berlin)
    readings = [reading("fridge-1", start + timedelta(hours=h), float(h)) for h in range(24)]
    log = build_log("site-a", period, [r.span() for r in readings], readings, (), fridge, LATER)
    (row,) = log.days[0].units
    assert (row.readings, row.low, row.high) == (23, 0.0, 22.0), "the 24th hour is the next day"
    morning = row.checks[0]
    assert morning.at == at(spring, "08:00", berlin) == datetime(2026, 3, 29, 6, tzinfo=UTC)


def test_a_period_needs_its_end_after_its_start_and_at_most_a_year() -> None:
    with pytest.raises(PeriodError, match="before the start"):
        LogPeriod(DAY2, DAY1, SHANGHAI)
    with pytest.raises(PeriodError, match="at most 366 days"):
        LogPeriod(DAY1, DAY1 + timedelta(days=366), SHANGHAI)
    assert len(LogPeriod(DAY1, DAY1 + timedelta(days=365), SHANGHAI).days()) == 366
    with pytest.raises(PeriodError, match="without a zone"):
        LogPeriod(DAY1, DAY2, SHANGHAI, (time(8, tzinfo=UTC),))
    sorted_once = LogPeriod(DAY1, DAY2, SHANGHAI, (time(14), time(8), time(14)))
    assert sorted_once.check_times == (time(8), time(14))


def test_a_units_verdict_follows_its_limits() -> None:
    assert [fridge("f").verdict(c) for c in (5.0, 5.1, 8.0, 8.1, None)] == [
        "ok",
        "warning",
        "warning",
        "critical",
        "ok",
    ]
    bain_marie = LoggedUnit("bain-marie-1", "hot-holding", None, 60.0, too_cold_is_bad=True)
    assert [bain_marie.verdict(c) for c in (65.0, 60.0, 59.9)] == ["ok", "ok", "critical"]


def test_the_alerts_read_for_a_period_include_open_ones_from_long_before(
    store: AlertStore,
) -> None:
    period = LogPeriod(DAY1, DAY2, SHANGHAI)
    key = AlertKey("site-a", "node-1", "fridge-1", AlertKind.TEMPERATURE)
    door = AlertKey("site-a", "node-1", "fridge-1", AlertKind.DOOR_OPEN)
    long_ago = at(DAY1, "08:00") - timedelta(days=60)
    forgotten = store.open(door, Severity.WARNING, long_ago, None, long_ago)  # never cleared
    old = store.open(key, Severity.WARNING, long_ago, 6.0, long_ago)
    store.clear(old.id, long_ago + timedelta(hours=1))
    inside = store.open(key, Severity.WARNING, at(DAY2, "09:00"), 6.0, at(DAY2, "09:30"))
    store.open(
        AlertKey("site-b", "n", "fridge-1", AlertKind.TEMPERATURE),
        Severity.WARNING,
        at(DAY2, "09:00"),
        6.0,
        at(DAY2, "09:30"),
    )  # another site
    assert [a.id for a in read_unit_alerts(store, "site-a", period)] == [forgotten.id, inside.id]
    assert read_unit_alerts(None, "site-a", period) == [], "a hub without alerts has none"
