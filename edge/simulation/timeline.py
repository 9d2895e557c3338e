"""Kitchen time for the simulators: reading grids, local hours, meal times, chance."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Meal:
    """A meal service in local hours, and the dishes on the menu then."""

    name: str
    start_h: float
    end_h: float
    menu: tuple[str, ...]

    def contains(self, hour: float) -> bool:
        """Tell whether a local hour falls within this service."""
        return self.start_h <= hour < self.end_h


BREAKFAST = Meal("breakfast", 7.0, 8.5, ("congee", "tomato-egg", "rice"))
LUNCH = Meal(
    "lunch",
    11.0,
    13.0,
    ("braised-pork", "steamed-fish", "tomato-egg", "rice", "greens", "tofu-soup"),
)
DINNER = Meal("dinner", 17.0, 18.5, ("braised-pork", "tomato-egg", "rice", "greens", "tofu-soup"))
MEALS = (BREAKFAST, LUNCH, DINNER)
SERVICE_HOURS = (6.0, 20.0)
"""When the kitchen is staffed: cold-unit doors open only then."""


def first_tick(after: datetime, step: timedelta) -> datetime:
    """The first instant at or after `after` on the grid of `step` multiples since 1970.

    Every reading grid is aligned on the epoch, so a restarted source lands on the
    same instants as before and a replayed day looks like a real one.
    """
    step_us = step // ONE_US
    ticks = -(-((after - EPOCH) // ONE_US) // step_us)
    return EPOCH + ticks * step_us * ONE_US


def local_hour(moment: datetime, tz: tzinfo | None) -> float:
    """Hours since local midnight (tz None: the system's time zone)."""
    local = moment.astimezone(tz)
    return local.hour + local.minute / 60 + local.second / 3600 + local.microsecond / 3.6e9


def at_local_hour(day: datetime, hour: float) -> datetime:
    """The instant `hour` hours after the local midnight of `day` (an aware local time)."""
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(hours=hour)


def poisson(rng: random.Random, mean: float) -> int:
    """Draw how many things happen when `mean` are expected (Knuth; normal when large)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def normal_mass(low: float, high: float, centre: float, spread: float) -> float:
    """Share of a normal distribution between `low` and `high`."""

    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf((x - centre) / (spread * math.sqrt(2))))

    return cdf(high) - cdf(low)
