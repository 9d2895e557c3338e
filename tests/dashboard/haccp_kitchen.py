"""A generated kitchen for the HACCP log tests: two days of readings, their excursions as
alerts, and the log's figures computed here, independently of alerts/haccp.py.

Three units read every 70 to 170 s (uneven times); fridge-1 is unplugged around the second
day's 08:00 check; fridge-2 has a reading right on the first day's 14:00 check and is too
warm at lunch; freezer-1 is too warm across the first midnight.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.kinds import AlertKey, AlertKind, Severity
from alerts.store import AlertStore
from protocol import epoch_ms

SITE = "haccp-site"
ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
CHECKS = (time(8), time(14), time(19, 30))
TOLERANCE = timedelta(minutes=15)
UNITS = {"fridge-1": "node-1", "fridge-2": "node-1", "freezer-1": "node-2"}
LIMIT = {"fridge-1": 8.0, "fridge-2": 8.0, "freezer-1": -12.0}
"""Where the generated excursions begin: the units' critical limits."""
ACTION = "Moved the stock to fridge-1, called the engineer"


def local(day: date, clock: time) -> datetime:
    """A kitchen time as a UTC instant."""
    return datetime.combine(day, clock, TZ).astimezone(UTC)


@dataclass(frozen=True)
class Point:
    sensor: str
    at: datetime
    celsius: float


@dataclass(frozen=True)
class Excursion:
    sensor: str
    since: datetime
    cleared: datetime
    first_c: float

    @property
    def minutes(self) -> int:
        return int(((self.cleared - self.since).total_seconds() + 30) // 60)


def _celsius(sensor: str, moment: datetime, noise: random.Random, days: tuple[date, date]) -> float:
    hot_lunch = local(days[0], time(12, 30)) <= moment < local(days[0], time(13, 20))
    freezer_night = local(days[0], time(23, 35)) <= moment < local(days[1], time(0, 20))
    if sensor == "fridge-2" and hot_lunch:
        return round(noise.uniform(8.5, 10.5), 2)
    if sensor == "freezer-1" and freezer_night:
        return round(noise.uniform(-11.5, -10.0), 2)
    base = -18.0 if sensor.startswith("freezer") else 3.5
    return round(base + math.sin(moment.timestamp() / 5000) + noise.uniform(-0.6, 0.6), 2)


def _points(days: tuple[date, date]) -> list[Point]:
    noise = random.Random(20261123)
    start, end = local(days[0], time()) - timedelta(hours=1), local(days[1], time(23))
    points = []
    for sensor in UNITS:
        moment = start
        while moment < end + timedelta(hours=2):
            moment += timedelta(milliseconds=noise.randint(70_000, 170_000))
            gap = local(days[1], time(7, 30)) <= moment < local(days[1], time(8, 30))
            if not (sensor == "fridge-1" and gap):
                points.append(Point(sensor, moment, _celsius(sensor, moment, noise, days)))
    exact = local(days[0], time(14))
    points = [p for p in points if not (p.sensor == "fridge-2" and abs(p.at - exact).seconds < 2)]
    return [*points, Point("fridge-2", exact, 4.25)]


def _excursions(points: list[Point]) -> list[Excursion]:
    """Each run of readings beyond the limit: its first reading to the first one back."""
    runs: list[Excursion] = []
    for sensor, limit in LIMIT.items():
        since: Point | None = None
        for point in sorted((p for p in points if p.sensor == sensor), key=lambda p: p.at):
            if point.celsius > limit and since is None:
                since = point
            elif point.celsius <= limit and since is not None:
                runs.append(Excursion(sensor, since.at, point.at, since.celsius))
                since = None
    return runs


@dataclass(frozen=True)
class Kitchen:
    """The generated days, readings and excursions, and the figures the log should show."""

    days: tuple[date, date]
    points: list[Point]
    excursions: list[Excursion]
    url: str = ""
    """The dashboard serving the log, once started."""

    @classmethod
    def generated(cls, today: date) -> Kitchen:
        days = (today - timedelta(days=2), today - timedelta(days=1))
        points = _points(days)
        return cls(days, points, _excursions(points))

    def query(self) -> str:
        return f"start={self.days[0]}&end={self.days[1]}"

    def lines(self) -> list[str]:
        """The readings as line protocol, and another site's that the log must not show."""
        noon = epoch_ms(local(self.days[0], time(12)))
        return [
            f"temperature,device={UNITS[p.sensor]},sensor={p.sensor},site={SITE} "
            f"celsius={p.celsius} {epoch_ms(p.at)}"
            for p in self.points
        ] + [f"temperature,device=x,sensor=fridge-1,site=other-site celsius=50 {noon}"]

    def record_alerts(self, store: AlertStore) -> None:
        """The excursions as the hub keeps them: acknowledged and back in range; fridge-2's
        actioned (so resolved), freezer-1's still waiting for its corrective action."""
        for run in self.excursions:
            actioned = run.sensor == "fridge-2"
            key = AlertKey(SITE, UNITS[run.sensor], run.sensor, AlertKind.TEMPERATURE)
            opened = store.open(key, Severity.CRITICAL, run.since, run.first_c, run.since)
            store.acknowledge(opened.id, "王芳" if actioned else "Li Wei", run.since + TOLERANCE)
            if actioned:
                store.record_action(opened.id, "王芳", ACTION, run.since + 2 * TOLERANCE)
            store.clear(opened.id, run.cleared)
        offline = AlertKey(SITE, "node-2", "", AlertKind.DEVICE_OFFLINE)  # names no unit
        first = self.excursions[0]
        gone = store.open(offline, Severity.WARNING, first.since, None, first.since)
        store.clear(gone.id, first.cleared)

    def unit_days(self) -> list[tuple[date, str]]:
        return [(day, sensor) for day in self.days for sensor in sorted(UNITS)]

    def values(self, day: date, sensor: str) -> list[float]:
        return [
            p.celsius
            for p in self.points
            if p.sensor == sensor and p.at.astimezone(TZ).date() == day
        ]

    def at_check(self, day: date, check: time, sensor: str) -> Point | None:
        due = local(day, check)
        window = [p for p in self.points if p.sensor == sensor and due - TOLERANCE <= p.at <= due]
        return max(window, key=lambda p: p.at, default=None)

    def touching(self, day: date, sensor: str) -> list[Excursion]:
        start, end = local(day, time()), local(day + timedelta(days=1), time())
        return [
            e for e in self.excursions if e.sensor == sensor and e.since < end and e.cleared > start
        ]


def duration_text(minutes: int) -> str:
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
