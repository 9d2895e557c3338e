"""A simulated bin on the waste station's scale: drops of food waste through the day.

The plate bin fills after each meal as trays come back (50-400 g a drop); the prep bin
fills while the kitchen prepares each meal (trimmings), with an occasional spoilage
drop at the morning stock check and overproduction thrown away after lunch and
dinner. Each local day's drops come from a generator seeded by the day, so a
restarted simulator throws the same drops.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from edge.build import BuildContext
from edge.config import Clock
from edge.simulation.configs import SimulatedWasteBinConfig
from edge.simulation.timeline import BREAKFAST, DINNER, LUNCH, MEALS, Meal, at_local_hour
from protocol import Reading, WasteCategory, WasteReading

PLATE_DROPS = {"breakfast": 35, "lunch": 80, "dinner": 50}
"""Drops into the plate bin per meal (a tray scraped is one drop)."""
PREP_WINDOWS = ((5.5, 6.75, BREAKFAST, 8), (9.0, 10.75, LUNCH, 15), (15.0, 16.5, DINNER, 10))
"""Local hours of kitchen preparation, the meal prepared, and the drops expected."""


@dataclass(frozen=True, slots=True)
class WasteDrop:
    """One drop into the bin, before it becomes a reading."""

    ts: datetime
    grams: float
    category: WasteCategory
    dish: str | None


class WasteBinSimulator:
    """A bin that sees drops on the scale, as a `ReadingSource`."""

    def __init__(
        self,
        name: str,
        category: WasteCategory,
        clock: Clock,
        seed: str,
        *,
        poll_interval_s: float = 5.0,
        tz: tzinfo | None = None,
    ) -> None:
        if category not in (WasteCategory.PLATE, WasteCategory.PREP):
            raise ValueError(f"a simulated bin is a plate or prep bin, not {category}")
        self.name = name
        self.interval_s = poll_interval_s
        self.category, self._seed, self._tz = category, seed, tz
        self._last = clock()
        self._planned_day = self._last.astimezone(tz).date() - timedelta(days=1)
        self._drops: deque[WasteDrop] = deque()

    @classmethod
    def from_config(
        cls, config: SimulatedWasteBinConfig, context: BuildContext
    ) -> WasteBinSimulator:
        """Build from a device config's sensor entry."""
        return cls(
            config.name,
            WasteCategory(config.category),
            context.clock,
            f"{context.seed}/{context.site}/{context.device}/{config.name}",
            poll_interval_s=context.poll_interval(config.interval_s),
            tz=context.tz,
        )

    def poll(self, now: datetime) -> list[Reading]:
        """The drops since the last poll, oldest first."""
        while self._planned_day < now.astimezone(self._tz).date():
            self._planned_day += timedelta(days=1)
            self._drops.extend(d for d in self.plan_day(self._planned_day) if d.ts > self._last)
        readings: list[Reading] = []
        while self._drops and self._drops[0].ts <= now:
            drop = self._drops.popleft()
            readings.append(
                WasteReading(
                    sensor=self.name,
                    ts=drop.ts,
                    grams=drop.grams,
                    category=drop.category,
                    dish=drop.dish,
                )
            )
        self._last = max(self._last, now)
        return readings

    def close(self) -> None:
        """Nothing to release."""

    def plan_day(self, day: date) -> list[WasteDrop]:
        """Every drop of one local day into this bin, in time order."""
        rng = random.Random(f"{self._seed}/{day.isoformat()}")  # noqa: S311
        midnight = _local_midnight(day, self._tz)
        if self.category is WasteCategory.PLATE:
            drops = [d for meal in MEALS for d in _after_meal(rng, midnight, meal)]
        else:
            drops = _prep_day(rng, midnight)
        return sorted(drops, key=lambda d: d.ts)


def _local_midnight(day: date, tz: tzinfo | None) -> datetime:
    if tz is None:
        return datetime(day.year, day.month, day.day).astimezone()  # the system's zone
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _moment(rng: random.Random, midnight: datetime, start_h: float, end_h: float) -> datetime:
    """A moment in a window, likelier in its later part (trays come back after eating)."""
    hour = rng.triangular(start_h, end_h, start_h + 0.65 * (end_h - start_h))
    return at_local_hour(midnight, hour)


def _dish(rng: random.Random, meal: Meal, share: float) -> str | None:
    """A dish from the meal's menu, named on `share` of the drops."""
    return rng.choice(meal.menu) if rng.random() < share else None


def _after_meal(rng: random.Random, midnight: datetime, meal: Meal) -> list[WasteDrop]:
    count = round(PLATE_DROPS[meal.name] * rng.uniform(0.8, 1.2))
    return [
        WasteDrop(
            _moment(rng, midnight, meal.start_h, meal.end_h),
            round(rng.triangular(50, 400, 140), 1),
            WasteCategory.PLATE,
            _dish(rng, meal, 0.8),
        )
        for _ in range(count)
    ]


def _prep_day(rng: random.Random, midnight: datetime) -> list[WasteDrop]:
    drops = []
    for start_h, end_h, meal, expected in PREP_WINDOWS:
        for _ in range(round(expected * rng.uniform(0.7, 1.3))):
            grams = round(rng.triangular(200, 2500, 600), 1)
            when = _moment(rng, midnight, start_h, end_h)
            drops.append(WasteDrop(when, grams, WasteCategory.PREP, _dish(rng, meal, 0.5)))
    if rng.random() < 0.5:
        when = _moment(rng, midnight, 9.0, 9.5)
        grams = round(rng.uniform(300, 3000), 1)
        drops.append(WasteDrop(when, grams, WasteCategory.SPOILAGE, None))
    for meal, (start_h, end_h) in ((LUNCH, (13.0, 13.75)), (DINNER, (18.5, 19.25))):
        for _ in range(rng.randint(0, 2)):
            grams = round(rng.uniform(1000, 6000), 1)
            drops.append(
                WasteDrop(
                    _moment(rng, midnight, start_h, end_h),
                    grams,
                    WasteCategory.OVERPRODUCTION,
                    rng.choice(meal.menu),
                )
            )
    return drops
