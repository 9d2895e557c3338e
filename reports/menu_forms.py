"""The menu page's forms: posted fields in, checked changes to the menu store out.

One form per part of the menu, told apart by its `action` field. A bad field raises
`MenuError` naming it; nothing is half-saved (each action is one store call).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time, timedelta

from protocol import WasteCategory
from reports.kitchen import MEALS, Dish, MealWindow, WasteTarget
from reports.menu import MenuStore
from reports.menu_checks import CATEGORIES, MenuError, check_slug

TEMPERATURE_DAYS = (-7, 7)
"""The menu page lets staff enter outdoor temperatures from a week ago to a week ahead."""


def _number(fields: Mapping[str, str], name: str) -> float | None:
    text = fields.get(name, "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError as err:
        raise MenuError(f"{name}: {text!r} is not a number") from err


def _clock(fields: Mapping[str, str], name: str) -> time:
    try:
        return time.fromisoformat(fields.get(name, "").strip())
    except ValueError as err:
        raise MenuError(f"{name}: write a kitchen time as HH:MM") from err


def _date(fields: Mapping[str, str], name: str) -> date | None:
    text = fields.get(name, "").strip()
    try:
        return date.fromisoformat(text) if text else None
    except ValueError as err:
        raise MenuError(f"{name}: write a day as YYYY-MM-DD") from err


def temperature_days(today: date) -> list[date]:
    """The days whose outdoor temperature the page offers to enter."""
    low, high = TEMPERATURE_DAYS
    return [today + timedelta(days=n) for n in range(low, high + 1)]


def apply_form(store: MenuStore, site: str, fields: Mapping[str, str], today: date) -> str:
    """Apply one posted form to the site's menu; return what was changed."""
    action = fields.get("action", "")
    if action == "dish":
        dish = Dish(
            fields.get("slug", "").strip(),
            fields.get("name_zh", ""),
            fields.get("name_en", ""),
            _number(fields, "cost_per_kg"),
            hot="hot" in fields,
            soup="soup" in fields,
        )
        store.put_dish(site, dish)
    elif action == "remove":
        store.remove_dish(site, fields.get("slug", ""))
    elif action == "categories":
        for category in CATEGORIES:
            store.set_category_cost(site, category, _number(fields, f"cost_{category}"))
    elif action == "windows":
        windows = tuple(
            MealWindow(meal, _clock(fields, f"{meal}_start"), _clock(fields, f"{meal}_end"))
            for meal in MEALS
        )
        store.set_meal_windows(site, windows)
    elif action == "target":
        target = WasteTarget(
            _number(fields, "grams_per_diner"),
            _number(fields, "reduction_pct"),
            _date(fields, "baseline_first"),
            _date(fields, "baseline_last"),
        )
        store.set_target(site, target)
    elif action == "temperatures":
        days = temperature_days(today)
        store.set_outdoor_temperatures(site, {d: _number(fields, f"t_{d}") for d in days})
    else:
        raise MenuError(f"action: {action!r} is not a part of the menu page")
    return action


def serving_choice(
    fields: Mapping[str, str], stations: list[str], dishes: list[str]
) -> tuple[str, str | None]:
    """Check the "serving now" form: a known waste station and a menu dish (or none)."""
    device = fields.get("device", "")
    if device not in stations:
        raise MenuError(f"device: {device!r} is not a waste station of this site")
    dish = fields.get("dish", "") or None
    if dish is not None and dish not in dishes:
        raise MenuError(f"dish: {dish!r} is not on this site's menu")
    return device, dish


def bin_choice(fields: Mapping[str, str]) -> tuple[str, str | None, WasteCategory | None]:
    """Check the bins form: a device, a bin's sensor and a category (or none) to set.

    Listed or entered by name, both must be slugs. No sensor: the device's default category,
    kept from before bins had their own (cleared on the page like a bin's).
    """
    device = check_slug(fields.get("device", "").strip(), "device")
    sensor = fields.get("sensor", "").strip() or None
    if sensor is not None:
        check_slug(sensor, "sensor")
    category = fields.get("category", "") or None
    if category is not None and category not in CATEGORIES:
        raise MenuError(f"category: {category!r} is not one of {', '.join(CATEGORIES)}")
    return device, sensor, WasteCategory(category) if category else None
