"""Waste trends, pure: summed-up InfluxDB buckets and the menu in, a report's figures out.

reports/waste_sources.py reads the buckets (InfluxQL `sum()` per time bucket, so a long
range is a few thousand rows, not every drop). A day is a kitchen day, midnight to
midnight in the kitchen's zone: the buckets never straddle a kitchen midnight, nor the
edge of a meal window (`meal_bucket_seconds`), so each falls in exactly one day and one
meal. Diners are the sum of the entrance counters' `entered` over the same buckets.
Cost is grams x the dish's cost per kg, else its category's; unpriced grams are counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from alerts.haccp import DAY_S, LogPeriod
from reports.kitchen import MEALS, OTHER, MealWindow, SiteMenu, meal_of

Group = Literal["day", "week", "month"]
TOP_DISHES = 10


def meal_bucket_seconds(period: LogPeriod, windows: Iterable[MealWindow]) -> int:
    """The longest bucket that straddles neither a kitchen midnight nor a meal window's edge."""
    edges = [
        datetime.combine(day, moment, period.tz)
        for day in period.days()
        for window in windows
        for moment in (window.start, window.end)
    ]
    return math.gcd(period.bucket_seconds(), *(int(e.timestamp()) % DAY_S for e in edges))


@dataclass(frozen=True, slots=True)
class WasteSum:
    """Grams dropped at a site in one time bucket, for one category and dish ('' for none)."""

    site: str
    start: datetime
    category: str
    dish: str
    grams: float


@dataclass(frozen=True, slots=True)
class BucketSum:
    """A site's total in one time bucket (waste grams, or diners entered)."""

    site: str
    start: datetime
    value: float


@dataclass(frozen=True, slots=True)
class WasteSlice:
    """Waste already added up for one slice of a report (by the rollups' SQL), priced."""

    kind: Literal["series", "category", "site", "dish", "meal"]
    key: str
    """The slice's name; for `series`, its first day (YYYY-MM-DD)."""
    grams: float
    cost: float
    unpriced_grams: float
    diners: float = 0.0


@dataclass(slots=True)
class Figures:
    """Grams, diners and cost of a slice of the report."""

    grams: float = 0.0
    diners: float = 0.0
    cost: float = 0.0
    unpriced_grams: float = 0.0

    @property
    def grams_per_diner(self) -> float | None:
        """Waste grams per diner counted at the entrance (None: nobody counted)."""
        return self.grams / self.diners if self.diners else None

    def add_waste(self, grams: float, cost_per_kg: float | None) -> None:
        """Count a bucket's grams at a price per kg (None: not priced)."""
        self.grams += grams
        if cost_per_kg is None:
            self.unpriced_grams += grams
        else:
            self.cost += grams / 1000 * cost_per_kg


@dataclass(frozen=True, slots=True)
class DishLine:
    """One dish's waste over the period."""

    dish: str
    grams: float
    cost: float
    share: float
    """Of the period's grams that carry a dish tag."""


@dataclass(frozen=True, slots=True)
class WasteReport:
    """Every figure of a waste report over some sites and kitchen days."""

    sites: tuple[str, ...]
    period: LogPeriod
    group: Group
    total: Figures
    series: tuple[tuple[date, Figures], ...]
    by_category: dict[str, Figures]
    by_meal: dict[str, Figures]
    by_site: dict[str, Figures]
    dishes: tuple[DishLine, ...] = field(default=())

    def top_dishes(self, count: int = TOP_DISHES) -> tuple[DishLine, ...]:
        """The most wasted dishes, by grams."""
        return self.dishes[:count]


def group_start(day: date, group: Group) -> date:
    """The first day of the day / ISO week (Monday) / month a day belongs to."""
    if group == "week":
        return day - timedelta(days=day.weekday())
    if group == "month":
        return day.replace(day=1)
    return day


def _series_keys(period: LogPeriod, group: Group) -> list[date]:
    return sorted({group_start(day, group) for day in period.days()})


@dataclass
class _Builder:
    period: LogPeriod
    group: Group
    menus: Mapping[str, SiteMenu]
    total: Figures = field(default_factory=Figures)
    series: dict[date, Figures] = field(default_factory=lambda: defaultdict(Figures))
    by_category: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))
    by_meal: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))
    by_site: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))
    by_dish: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))

    def day_of(self, start: datetime) -> date | None:
        day = start.astimezone(self.period.tz).date()
        return day if self.period.first <= day <= self.period.last else None

    def meal(self, site: str, start: datetime) -> str:
        windows = self.menus[site].windows if site in self.menus else SiteMenu(site).windows
        return meal_of(windows, start.astimezone(self.period.tz).time())

    def waste(self, row: WasteSum) -> None:
        day = self.day_of(row.start)
        if day is None:
            return
        menu = self.menus.get(row.site) or SiteMenu(row.site)
        price = menu.cost_per_kg(row.category, row.dish)
        slices = [self.total, self.series[group_start(day, self.group)]]
        slices += [self.by_category[row.category], self.by_site[row.site]]
        if row.dish:
            slices.append(self.by_dish[row.dish])
        for figures in slices:
            figures.add_waste(row.grams, price)

    def slice(self, row: WasteSlice) -> None:
        slices: list[Figures]
        if row.kind == "series":
            slices = [self.series[date.fromisoformat(row.key)], self.total]
        else:
            kinds = {"category": self.by_category, "site": self.by_site, "dish": self.by_dish}
            slices = [kinds.get(row.kind, self.by_meal)[row.key]]
        for figures in slices:
            figures.grams += row.grams
            figures.cost += row.cost
            figures.unpriced_grams += row.unpriced_grams
            figures.diners += row.diners

    def meal_waste(self, row: BucketSum) -> None:
        if self.day_of(row.start) is not None:
            self.by_meal[self.meal(row.site, row.start)].grams += row.value

    def diners(self, row: BucketSum) -> None:
        day = self.day_of(row.start)
        if day is None:
            return
        slices = [self.total, self.series[group_start(day, self.group)], self.by_site[row.site]]
        slices.append(self.by_meal[self.meal(row.site, row.start)])
        for figures in slices:
            figures.diners += row.value


def build_report(
    sites: Iterable[str],
    period: LogPeriod,
    group: Group,
    waste: Iterable[WasteSum],
    meal_waste: Iterable[BucketSum],
    diners: Iterable[BucketSum],
    menus: Mapping[str, SiteMenu],
    slices: Iterable[WasteSlice] = (),
) -> WasteReport:
    """Add the buckets up into the report's figures (buckets outside the period are left out).

    `waste` is bucketed by kitchen day (or finer) per category and dish, or already added
    up into `slices`; `meal_waste` and `diners` by `meal_bucket_seconds`. Every category's
    g/diner is over all diners.
    """
    built = _Builder(period, group, menus)
    for row in waste:
        built.waste(row)
    for piece in slices:
        built.slice(piece)
    for bucket in meal_waste:
        built.meal_waste(bucket)
    for bucket in diners:
        built.diners(bucket)
    for figures in built.by_category.values():
        figures.diners = built.total.diners
    return WasteReport(
        sites=tuple(sorted(set(sites))),
        period=period,
        group=group,
        total=built.total,
        series=tuple(
            (key, built.series.get(key, Figures())) for key in _series_keys(period, group)
        ),
        by_category=dict(sorted(built.by_category.items())),
        by_meal={meal: built.by_meal.get(meal, Figures()) for meal in (*MEALS, OTHER)},
        by_site=dict(sorted(built.by_site.items())),
        dishes=_dish_lines(built.by_dish),
    )


def _dish_lines(by_dish: Mapping[str, Figures]) -> tuple[DishLine, ...]:
    """The dishes, most wasted first, with their share of the grams that name a dish."""
    total = sum(f.grams for f in by_dish.values())
    lines = (
        DishLine(dish, f.grams, f.cost, f.grams / total if total else 0.0)
        for dish, f in by_dish.items()
    )
    return tuple(sorted(lines, key=lambda line: (-line.grams, line.dish)))


def meal_totals(
    buckets: Iterable[BucketSum], tz: tzinfo, windows: tuple[MealWindow, ...]
) -> dict[tuple[date, str], float]:
    """Bucket sums added up by (kitchen day, meal); every meal of a day with data is there."""
    totals: dict[tuple[date, str], float] = {}
    for bucket in buckets:
        local = bucket.start.astimezone(tz)
        for meal in MEALS:
            totals.setdefault((local.date(), meal), 0.0)
        meal = meal_of(windows, local.time())
        if meal != OTHER:
            totals[(local.date(), meal)] += bucket.value
    return totals
