"""The wall screen's live picture of each site, built from readings and device status.

Pure: readings go in, JSON-ready sections come out; no I/O, no clock of its own. Every
update says which sections it changed (`cold:{device}/{sensor}`, `dining`, `waste`,
`device:{device}`), so a connected screen receives only those. Updates merge in any
order: a unit keeps its newest reading, and today's waste and entrance counts are keyed
by sensor and timestamp, so history read from InfluxDB at start-up and a live message
that carries the same reading (an agent's replay, a QoS 1 re-delivery) count once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from canteen.cold_units import UnitKind
from dashboard.counted import CountedReadings
from protocol import (
    DoorReading,
    OccupancyReading,
    Reading,
    Status,
    TemperatureReading,
    WasteReading,
    epoch_ms,
)
from protocol.models import EPOCH, ONE_MS

SPARK_BUCKET_MS = 2 * 60_000
CURVE_BUCKET_MS = 15 * 60_000
Section = dict[str, Any]


@dataclass(slots=True)
class ColdUnitView:
    """One probe's unit: latest temperature and door, and its recent curve."""

    device: str
    sensor: str
    kind: UnitKind
    celsius: float | None = None
    ts_ms: int = 0
    door_open: bool | None = None
    door_ts_ms: int = 0
    spark: dict[int, float] = field(default_factory=dict)


@dataclass(slots=True)
class DeviceView:
    """A device's last status message."""

    online: bool | None = None
    seen_ms: int = 0
    backlog: int | None = None
    clock_synced: bool | None = None
    refused: int | None = None


@dataclass(slots=True)
class SiteView:
    """Everything the wall screen shows for one site."""

    site: str
    day: date | None = None
    cold: dict[str, ColdUnitView] = field(default_factory=dict)
    devices: dict[str, DeviceView] = field(default_factory=dict)
    present: dict[str, tuple[int, int]] = field(default_factory=dict)
    curve: dict[str, dict[int, int]] = field(default_factory=dict)
    entered: int = 0
    exited: int = 0
    waste_g: dict[str, float] = field(default_factory=dict)
    drops: int = 0
    counted: CountedReadings = field(default_factory=CountedReadings)

    def new_day(self, day: date) -> None:
        """Start today's totals afresh."""
        self.day = day
        self.curve.clear()
        self.entered = self.exited = self.drops = 0
        self.waste_g.clear()
        self.counted.clear()


class LiveState:
    """The live picture of every site seen on the broker or asked for by a screen."""

    def __init__(
        self,
        tz: tzinfo,
        kind_of: Callable[[str], UnitKind],
        spark_window_ms: int = 6 * 3_600_000,
    ) -> None:
        self._tz = tz
        self._kind_of = kind_of
        self._spark_window_ms = spark_window_ms
        self._sites: dict[str, SiteView] = {}

    def sites(self) -> list[str]:
        """The sites known so far, sorted."""
        return sorted(self._sites)

    def site(self, site: str) -> SiteView:
        """A site's view, created empty on first use."""
        view = self._sites.get(site)
        if view is None:
            view = self._sites[site] = SiteView(site)
        return view

    def local_day(self, ts_ms: int) -> date:
        """The kitchen's calendar day of a timestamp."""
        return (EPOCH + ts_ms * ONE_MS).astimezone(self._tz).date()

    def day_start_ms(self, now: datetime) -> int:
        """The kitchen's midnight that began the day containing `now`, in epoch ms."""
        midnight = datetime.combine(now.astimezone(self._tz).date(), time(), tzinfo=self._tz)
        return int(midnight.timestamp() * 1000)

    def apply_readings(self, site: str, device: str, readings: Iterable[Reading]) -> set[str]:
        """Take a device's readings; return the sections they changed."""
        changed: set[str] = set()
        for reading in readings:
            ts_ms = epoch_ms(reading.ts)
            if isinstance(reading, TemperatureReading):
                changed |= self.temperature(site, device, reading.sensor, ts_ms, reading.celsius)
            elif isinstance(reading, DoorReading):
                changed |= self.door(site, device, reading.sensor, ts_ms, reading.open)
            elif isinstance(reading, WasteReading):
                changed |= self.waste(
                    site, device, reading.sensor, ts_ms, reading.category.value, reading.grams
                )
            elif isinstance(reading, OccupancyReading):
                changed |= self.occupancy(
                    site,
                    device,
                    reading.sensor,
                    ts_ms,
                    (reading.entered, reading.exited, reading.present),
                )
        return changed

    def apply_status(self, site: str, device: str, status: Status, received_ms: int) -> set[str]:
        """Take a device's birth, health or last-will message."""
        view = self.site(site).devices.setdefault(device, DeviceView())
        seen = epoch_ms(status.ts) if status.ts is not None else received_ms
        if seen < view.seen_ms:
            return set()
        view.online, view.seen_ms = status.online, seen
        if status.backlog is not None:
            view.backlog = status.backlog
        if status.clock_synced is not None:
            view.clock_synced = status.clock_synced
        if status.refused is not None:
            view.refused = status.refused
        return {f"device:{device}"}

    def _unit(self, site: str, device: str, sensor: str) -> tuple[str, ColdUnitView]:
        key = f"{device}/{sensor}"
        units = self.site(site).cold
        unit = units.get(key)
        if unit is None:
            unit = units[key] = ColdUnitView(device, sensor, self._kind_of(sensor))
        return key, unit

    def temperature(
        self, site: str, device: str, sensor: str, ts_ms: int, celsius: float
    ) -> set[str]:
        """A probe's reading: newest wins, and it updates its sparkline bucket."""
        key, unit = self._unit(site, device, sensor)
        bucket = ts_ms - ts_ms % SPARK_BUCKET_MS
        cutoff = max(ts_ms, unit.ts_ms) - self._spark_window_ms
        if bucket >= cutoff:
            unit.spark[bucket] = float(celsius)
            if len(unit.spark) > self._spark_window_ms // SPARK_BUCKET_MS + 8:
                unit.spark = {k: v for k, v in sorted(unit.spark.items()) if k >= cutoff}
        if ts_ms >= unit.ts_ms:
            unit.celsius, unit.ts_ms = float(celsius), ts_ms
        return {f"cold:{key}"}

    def spark_point(
        self, site: str, device: str, sensor: str, bucket_ms: int, celsius: float
    ) -> None:
        """A stored bucket mean from history; a live value in the same bucket wins."""
        _, unit = self._unit(site, device, sensor)
        unit.spark.setdefault(bucket_ms - bucket_ms % SPARK_BUCKET_MS, float(celsius))

    def door(self, site: str, device: str, sensor: str, ts_ms: int, is_open: bool) -> set[str]:
        """A unit's door switch: newest wins."""
        key, unit = self._unit(site, device, sensor)
        if ts_ms < unit.door_ts_ms:
            return set()
        unit.door_open, unit.door_ts_ms = is_open, ts_ms
        return {f"cold:{key}"}

    def _today(self, view: SiteView, ts_ms: int, key: str) -> bool:
        """Whether a counted reading belongs to today's totals and is new to them."""
        day = self.local_day(ts_ms)
        if view.day is None or day > view.day:
            view.new_day(day)
        elif day < view.day:
            return False
        return view.counted.add(key, ts_ms)

    def waste(
        self, site: str, device: str, sensor: str, ts_ms: int, category: str, grams: float
    ) -> set[str]:
        """One drop into a bin, counted once into today's total by category."""
        view = self.site(site)
        if not self._today(view, ts_ms, f"{device}/{sensor}"):
            return set()
        view.waste_g[category] = view.waste_g.get(category, 0.0) + float(grams)
        view.drops += 1
        return {"waste"}

    def occupancy(
        self, site: str, device: str, sensor: str, ts_ms: int, counts: tuple[int, int, int]
    ) -> set[str]:
        """An entrance count: people in and out since the last one, and present now."""
        view = self.site(site)
        key = f"{device}/{sensor}"
        entered, exited, present = counts
        if ts_ms >= view.present.get(key, (0, 0))[0]:
            view.present[key] = (ts_ms, present)
        if self._today(view, ts_ms, key):
            view.entered += entered
            view.exited += exited
            view.curve.setdefault(key, {})[ts_ms - ts_ms % CURVE_BUCKET_MS] = present
        return {"dining"}

    def roll_day(self, now: datetime) -> list[str]:
        """Clear yesterday's totals at the kitchen's midnight; return the sites changed."""
        today = now.astimezone(self._tz).date()
        rolled = []
        for site, view in self._sites.items():
            if view.day is not None and view.day < today:
                view.new_day(today)
                rolled.append(site)
        return rolled
