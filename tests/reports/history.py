"""Generated canteen history with known totals: waste drops and entrance counts.

Three sites, 91 kitchen days in Asia/Shanghai. Drops fall inside the meal windows and
some between them; the entrance counts every 10 minutes from 06:00 to 20:00.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
SITES = ("central", "north", "riverside")
CATEGORIES = ("plate", "prep", "spoilage", "overproduction")
DISHES = ("braised-pork", "tomato-soup", "rice", "greens", "fish")
MEAL_MINUTES = {"breakfast": (390, 540), "lunch": (630, 810), "dinner": (990, 1140)}
"""Default windows as minutes after midnight, written out again here on purpose."""


@dataclass(frozen=True, slots=True)
class Drop:
    site: str
    at: datetime
    category: str
    dish: str
    grams: float


@dataclass(frozen=True, slots=True)
class Count:
    site: str
    at: datetime
    entered: int


@dataclass
class History:
    first: date
    last: date
    drops: list[Drop] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)

    @classmethod
    def generated(cls, last: date, days: int = 91, seed: int = 11) -> History:
        rng = random.Random(seed)
        history = cls(last - timedelta(days=days - 1), last)
        taken: set[tuple[str, int]] = set()
        for n in range(days):
            day = history.first + timedelta(days=n)
            midnight = datetime.combine(day, datetime.min.time(), TZ)
            for site in SITES:
                history._day(rng, site, midnight, taken)
        return history

    def _day(
        self, rng: random.Random, site: str, midnight: datetime, taken: set[tuple[str, int]]
    ) -> None:
        spans = [*MEAL_MINUTES.values(), (840, 960)]  # 14:00-16:00: between meals
        for low, high in spans:
            for _ in range(rng.randint(3, 9)):
                minute = rng.uniform(low, high - 0.01)
                at = (midnight + timedelta(minutes=minute)).astimezone(UTC)
                at = at.replace(microsecond=at.microsecond // 1000 * 1000)
                while (site, int(at.timestamp() * 1000)) in taken:
                    at += timedelta(milliseconds=1)
                taken.add((site, int(at.timestamp() * 1000)))
                category = rng.choice(CATEGORIES)
                dish = rng.choice(DISHES) if category in ("plate", "overproduction") else ""
                dish = "" if rng.random() < 0.15 else dish
                self.drops.append(Drop(site, at, category, dish, round(rng.uniform(20, 900), 1)))
        for minute in range(360, 1200, 10):
            at = (midnight + timedelta(minutes=minute)).astimezone(UTC)
            self.counts.append(Count(site, at, rng.randint(0, 9)))

    def lines(self) -> list[str]:
        out = []
        for d in self.drops:
            tags = f"site={d.site},device=scale-1,sensor=bin-{d.category},category={d.category}"
            tags += f",dish={d.dish}" if d.dish else ""
            out.append(f"waste,{tags} grams={d.grams} {int(d.at.timestamp() * 1000)}")
        out.extend(
            f"occupancy,site={c.site},device=door-1,sensor=dining-main entered={c.entered}i,"
            f"exited=0i,present=0i {int(c.at.timestamp() * 1000)}"
            for c in self.counts
        )
        return out


def meal_of(at: datetime) -> str:
    local = at.astimezone(TZ)
    minutes = local.hour * 60 + local.minute + local.second / 60
    return next((m for m, (lo, hi) in MEAL_MINUTES.items() if lo <= minutes < hi), "other")


def day_of(at: datetime) -> date:
    return at.astimezone(TZ).date()
