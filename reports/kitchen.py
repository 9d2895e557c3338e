"""What the reports know about a site's kitchen: dishes, costs, meal windows, waste targets.

Pure values; reports/menu.py keeps them in SQLite, reports/menu_checks.py checks them on
the way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

MEALS = ("breakfast", "lunch", "dinner")
OTHER = "other"
"""Waste or diners outside every meal window."""
DEFAULT_WINDOWS = {
    "breakfast": (time(6, 30), time(9, 0)),
    "lunch": (time(10, 30), time(13, 30)),
    "dinner": (time(16, 30), time(19, 0)),
}


@dataclass(frozen=True, slots=True)
class Dish:
    """A dish on the menu, keyed by its PROTOCOL slug (the `dish` tag of a waste drop)."""

    slug: str
    name_zh: str
    name_en: str
    cost_per_kg: float | None = None
    hot: bool = False
    soup: bool = False

    def name(self, language: str) -> str:
        """The dish's name in a language (Chinese for zh-CN, else English)."""
        return self.name_zh if language == "zh-CN" else self.name_en


@dataclass(frozen=True, slots=True)
class MealWindow:
    """A meal period, kitchen time: start included, end excluded."""

    meal: str
    start: time
    end: time

    def holds(self, moment: time) -> bool:
        """Whether a kitchen time of day falls in the window."""
        return self.start <= moment < self.end


def default_windows() -> tuple[MealWindow, ...]:
    """Breakfast 06:30 to 09:00, lunch 10:30 to 13:30, dinner 16:30 to 19:00."""
    return tuple(MealWindow(meal, *DEFAULT_WINDOWS[meal]) for meal in MEALS)


def meal_of(windows: tuple[MealWindow, ...], moment: time) -> str:
    """The meal whose window holds a time of day, or `other`."""
    return next((w.meal for w in windows if w.holds(moment)), OTHER)


@dataclass(frozen=True, slots=True)
class WasteTarget:
    """A site's waste goal: grams per diner, and/or a % reduction against a baseline period."""

    grams_per_diner: float | None = None
    reduction_pct: float | None = None
    baseline_first: date | None = None
    baseline_last: date | None = None

    @property
    def baseline(self) -> tuple[date, date] | None:
        """The baseline period, both days included, when one is set."""
        if self.baseline_first is None or self.baseline_last is None:
            return None
        return self.baseline_first, self.baseline_last


@dataclass(frozen=True, slots=True)
class SiteMenu:
    """Everything a report needs from a site's menu."""

    site: str
    dishes: dict[str, Dish] = field(default_factory=dict)
    category_costs: dict[str, float] = field(default_factory=dict)
    windows: tuple[MealWindow, ...] = field(default_factory=default_windows)
    target: WasteTarget = field(default_factory=WasteTarget)

    def cost_per_kg(self, category: str, dish: str) -> float | None:
        """The dish's cost per kg, else its category's, else None (not priced)."""
        found = self.dishes.get(dish) if dish else None
        if found is not None and found.cost_per_kg is not None:
            return found.cost_per_kg
        return self.category_costs.get(category)
