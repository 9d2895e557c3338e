"""The menu's values checked on the way in: `MenuError` names the field at fault and says why.

So a report never meets a negative cost, a meal that ends before it starts, or a waste
station pushed a name that is not a PROTOCOL slug; reports/menu.py keeps what passes.
"""

from __future__ import annotations

import itertools
import re
from datetime import date

from protocol import WasteCategory
from protocol.topics import SLUG_PATTERN
from reports.kitchen import MEALS, Dish, MealWindow, WasteTarget
from reports.stations import Station

NAME_MAX = 80
COST_MAX = 10_000.0
OUTDOOR_C = (-60.0, 60.0)
CATEGORIES = tuple(c.value for c in WasteCategory)


class MenuError(ValueError):
    """A menu value that cannot be kept (the message names the field and says why)."""


def check_slug(slug: str, what: str = "dish") -> str:
    """A PROTOCOL slug, or MenuError."""
    if not re.fullmatch(SLUG_PATTERN, slug):
        raise MenuError(f"{what}: {slug!r} is not a slug (a-z, 0-9 and -, like braised-pork)")
    return slug


def _cost(value: float | None, what: str) -> float | None:
    if value is not None and not 0 <= value <= COST_MAX:
        raise MenuError(f"{what}: a cost per kg is between 0 and {COST_MAX:g}, not {value:g}")
    return value


def check_dish(dish: Dish) -> Dish:
    """The dish if every field is sound, else MenuError."""
    check_slug(dish.slug)
    for field, name in (("name_zh", dish.name_zh), ("name_en", dish.name_en)):
        if not name.strip() or len(name) > NAME_MAX:
            raise MenuError(f"{field}: a dish name has 1 to {NAME_MAX} characters")
    _cost(dish.cost_per_kg, "cost_per_kg")
    return dish


def check_windows(windows: tuple[MealWindow, ...]) -> tuple[MealWindow, ...]:
    """Windows that each start before they end and never overlap, else MenuError."""
    ordered = sorted(windows, key=lambda w: w.start)
    for window in ordered:
        if window.meal not in MEALS:
            raise MenuError(f"meal: {window.meal!r} is not one of {', '.join(MEALS)}")
        if window.end <= window.start:
            raise MenuError(f"{window.meal}: the window must end after it starts")
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise MenuError(f"{after.meal}: its window overlaps {before.meal}'s")
    return tuple(ordered)


def check_target(target: WasteTarget) -> WasteTarget:
    """A target with sane figures and a baseline that is a real period, else MenuError."""
    if target.grams_per_diner is not None and not 0 < target.grams_per_diner <= 10_000:
        raise MenuError("grams_per_diner: a target is between 0 and 10000 grams per diner")
    if target.reduction_pct is not None and not 0 < target.reduction_pct < 100:
        raise MenuError("reduction_pct: a reduction is between 0 and 100 %")
    if (target.baseline_first is None) != (target.baseline_last is None):
        raise MenuError("baseline: give both its first and its last day, or neither")
    period = target.baseline
    if period is not None and period[1] < period[0]:
        raise MenuError("baseline: its last day is before its first")
    if target.reduction_pct is not None and period is None:
        raise MenuError("reduction_pct: a reduction needs a baseline period to measure against")
    return target


def check_category_cost(category: str, cost_per_kg: float | None) -> float | None:
    """A waste category's cost per kg (None: no price) if both are sound, else MenuError."""
    if category not in CATEGORIES:
        raise MenuError(f"category: {category!r} is not one of {', '.join(CATEGORIES)}")
    return _cost(cost_per_kg, f"cost of {category}")


def check_outdoor_temperatures(temperatures: dict[date, float | None]) -> None:
    """MenuError unless every outdoor temperature given (None: forget it) is plausible."""
    for day, celsius in temperatures.items():
        if celsius is not None and not OUTDOOR_C[0] <= celsius <= OUTDOOR_C[1]:
            raise MenuError(f"outdoor temperature of {day}: {celsius:g} °C is not plausible")


def check_station(kept: Station) -> Station:
    """A station whose device, dish and bins are slugs, else MenuError."""
    check_slug(kept.device, "device")
    if kept.dish is not None:
        check_slug(kept.dish)
    for b in kept.bins:
        check_slug(b.sensor, "sensor")
    return kept
