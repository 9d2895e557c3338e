"""The HACCP temperature log: per cold unit and kitchen day, what a food inspector asks for.

Pure: temperature spans, readings near the check times and alerts in, the log's days out
(`build_log`); alerts/haccp_sources.py reads them from InfluxDB and the alert store.
A day runs midnight to midnight, kitchen time. min / max / mean cover every reading of the
day (the mean is of readings, not time-weighted). The reading at a check time is the last
one at or before it, no older than the tolerance (15 min): "the temperature at 08:00". An
excursion is one of the unit's alerts, from `since` (first reading beyond the limit) to
`cleared_at` (back in range) or ongoing, listed on every day it touches.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from alerts.alert_record import Alert
from alerts.kinds import AlertKind

CHECK_TOLERANCE = timedelta(minutes=15)
MAX_DAYS = 366
DAY_S = 86400
UNIT_ALERT_KINDS = frozenset(
    {AlertKind.TEMPERATURE, AlertKind.DOOR_OPEN, AlertKind.PROBE_FAULT, AlertKind.SENSOR_SILENT}
)

CheckStatus = Literal["ok", "missing", "pending"]


class PeriodError(ValueError):
    """A log period that cannot be made (the message says why)."""


@dataclass(frozen=True, slots=True)
class LogPeriod:
    """The kitchen days a log covers (both included), in the kitchen's zone, and its checks."""

    first: date
    last: date
    tz: tzinfo
    check_times: tuple[time, ...] = (time(8), time(14))
    tolerance: timedelta = CHECK_TOLERANCE

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise PeriodError(f"the end {self.last} is before the start {self.first}")
        if (self.last - self.first).days >= MAX_DAYS:
            raise PeriodError(f"a log covers at most {MAX_DAYS} days")
        if any(check.tzinfo is not None for check in self.check_times):
            raise PeriodError("check times are kitchen times: write them without a zone")
        object.__setattr__(self, "check_times", tuple(sorted(set(self.check_times))))

    def days(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def midnight(self, day: date) -> datetime:
        """When a kitchen day begins, as a UTC instant."""
        return datetime.combine(day, time(), self.tz).astimezone(UTC)

    def edges(self) -> list[datetime]:
        """Each day's start, then the end of the last day: len(days()) + 1 instants."""
        return [self.midnight(day) for day in self.days()] + [
            self.midnight(self.last + timedelta(days=1))
        ]

    def due(self, day: date, check: time) -> datetime:
        """The instant of a day's check time."""
        return datetime.combine(day, check, self.tz).astimezone(UTC)

    def bucket_seconds(self) -> int:
        """The longest time bucket (at most a day) that never straddles a kitchen midnight.

        InfluxDB's GROUP BY time() counts from the epoch: 8 h in Asia/Shanghai (midnight is
        16:00 UTC), 1 h across a DST change, 30 min in Asia/Kolkata, a day in UTC.
        """
        return math.gcd(DAY_S, *(int(edge.timestamp()) % DAY_S for edge in self.edges()))


@dataclass(frozen=True, slots=True)
class TemperatureSpan:
    """A probe's readings in a stretch of time, summed up (one InfluxQL time bucket)."""

    sensor: str
    start: datetime
    low: float
    high: float
    total: float
    count: int


@dataclass(frozen=True, slots=True)
class ProbeReading:
    """One stored temperature reading."""

    sensor: str
    at: datetime
    celsius: float

    def span(self) -> TemperatureSpan:
        """The reading as a span of one."""
        return TemperatureSpan(self.sensor, self.at, self.celsius, self.celsius, self.celsius, 1)


@dataclass(frozen=True, slots=True)
class LoggedUnit:
    """A unit in the log: its probe, kind and limits (from the alert rules)."""

    sensor: str
    kind: str
    warning_c: float | None
    critical_c: float
    too_cold_is_bad: bool = False

    def verdict(self, celsius: float | None) -> Literal["ok", "warning", "critical"]:
        """How a temperature stands against the unit's limits."""
        if celsius is None:
            return "ok"
        sign = -1.0 if self.too_cold_is_bad else 1.0
        if sign * (celsius - self.critical_c) > 0:
            return "critical"
        if self.warning_c is not None and sign * (celsius - self.warning_c) > 0:
            return "warning"
        return "ok"


@dataclass(frozen=True, slots=True)
class CheckReading:
    """A unit's temperature at one check time of a day."""

    check: time
    due: datetime
    status: CheckStatus
    at: datetime | None = None
    celsius: float | None = None


@dataclass(frozen=True, slots=True)
class Excursion:
    """An alert of the unit, with how long its condition lasted."""

    alert: Alert
    end: datetime
    """`cleared_at`, or the log's making time while it is still going on."""
    ongoing: bool

    @property
    def duration(self) -> timedelta:
        """From the first reading beyond the limit to back in range (or to now)."""
        return max(timedelta(0), self.end - self.alert.since)

    @property
    def minutes(self) -> int:
        """The duration in whole minutes, rounded to the nearest."""
        return int((self.duration.total_seconds() + 30) // 60)

    def touches(self, start: datetime, end: datetime) -> bool:
        """Whether the excursion overlaps [start, end) (a zero-length one: contains it)."""
        since = self.alert.since
        if self.end <= since:
            return start <= since < end
        return since < end and self.end > start


@dataclass(frozen=True, slots=True)
class UnitDay:
    """One unit on one day: the day's figures, its checks and its excursions."""

    unit: LoggedUnit
    readings: int
    low: float | None
    high: float | None
    mean: float | None
    checks: tuple[CheckReading, ...]
    excursions: tuple[Excursion, ...]


@dataclass(frozen=True, slots=True)
class LogDay:
    """A day of the log: every unit seen in the period, even those with no reading."""

    day: date
    units: tuple[UnitDay, ...]


@dataclass(frozen=True, slots=True)
class HaccpLog:
    """The whole log of a site for a period."""

    site: str
    period: LogPeriod
    zone: str
    generated_at: datetime
    units: tuple[LoggedUnit, ...]
    days: tuple[LogDay, ...]


@dataclass(slots=True)
class _Tally:
    low: float = math.inf
    high: float = -math.inf
    total: float = 0.0
    count: int = 0

    def add(self, span: TemperatureSpan) -> None:
        self.low, self.high = min(self.low, span.low), max(self.high, span.high)
        self.total += span.total
        self.count += span.count

    def unit_day(
        self, unit: LoggedUnit, checks: tuple[CheckReading, ...], excursions: tuple[Excursion, ...]
    ) -> UnitDay:
        if self.count == 0:
            return UnitDay(unit, 0, None, None, None, checks, excursions)
        mean = self.total / self.count
        return UnitDay(unit, self.count, self.low, self.high, mean, checks, excursions)


def _tallies(
    spans: Iterable[TemperatureSpan], edges: list[datetime]
) -> dict[tuple[int, str], _Tally]:
    tallies: dict[tuple[int, str], _Tally] = {}
    for span in spans:
        index = bisect.bisect_right(edges, span.start) - 1
        if 0 <= index < len(edges) - 1 and span.count > 0:
            tallies.setdefault((index, span.sensor), _Tally()).add(span)
    return tallies


@dataclass(frozen=True, slots=True)
class _Probe:
    """A probe's readings near the check times, oldest first, with their times for bisect."""

    readings: list[ProbeReading] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)

    def check(self, period: LogPeriod, day: date, check: time, now: datetime) -> CheckReading:
        due = period.due(day, check)
        if due > now:
            return CheckReading(check, due, "pending")
        index = bisect.bisect_right(self.times, due) - 1
        if index >= 0 and self.times[index] >= due - period.tolerance:
            found = self.readings[index]
            return CheckReading(check, due, "ok", found.at, found.celsius)
        return CheckReading(check, due, "missing")


def _probes(readings: Iterable[ProbeReading]) -> dict[str, _Probe]:
    probes: dict[str, _Probe] = {}
    for reading in sorted(readings, key=lambda r: r.at):
        probe = probes.setdefault(reading.sensor, _Probe())
        probe.readings.append(reading)
        probe.times.append(reading.at)
    return probes


def _excursions(
    alerts: Iterable[Alert], start: datetime, end: datetime, now: datetime
) -> list[Excursion]:
    kept: list[Excursion] = []
    for alert in alerts:
        if not alert.key.sensor or alert.key.kind not in UNIT_ALERT_KINDS:
            continue
        cleared = alert.cleared_at
        excursion = Excursion(alert, cleared or max(now, alert.since), cleared is None)
        if excursion.touches(start, end):
            kept.append(excursion)
    return sorted(kept, key=lambda e: (e.alert.since, e.alert.id))


def build_log(
    site: str,
    period: LogPeriod,
    spans: Iterable[TemperatureSpan],
    readings: Iterable[ProbeReading],
    alerts: Iterable[Alert],
    unit_of: Callable[[str], LoggedUnit],
    now: datetime,
    zone: str = "",
) -> HaccpLog:
    """Make the log from summed-up readings, readings near the check times and alerts.

    Raw readings work as `spans` too (`ProbeReading.span()`); `readings` must hold at
    least the last reading before each check time (more does no harm).
    """
    edges = period.edges()
    tallies = _tallies(spans, edges)
    probes = _probes(readings)
    excursions = _excursions(alerts, edges[0], edges[-1], now)
    sensors = {sensor for _, sensor in tallies} | {e.alert.key.sensor for e in excursions}
    units = tuple(unit_of(sensor) for sensor in sorted(sensors))
    days = []
    for index, day in enumerate(period.days()):
        start, end = edges[index], edges[index + 1]
        rows = []
        for unit in units:
            tally = tallies.get((index, unit.sensor), _Tally())
            probe = probes.get(unit.sensor, _Probe())
            checks = tuple(probe.check(period, day, c, now) for c in period.check_times)
            touching = tuple(
                e for e in excursions if e.alert.key.sensor == unit.sensor and e.touches(start, end)
            )
            rows.append(tally.unit_day(unit, checks, touching))
        days.append(LogDay(day, tuple(rows)))
    return HaccpLog(site, period, zone, now, units, tuple(days))
