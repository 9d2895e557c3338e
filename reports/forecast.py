"""The demand forecast, pure: diners per meal for the next days, and what to cook.

Model, per meal: the mean of the same weekday over the last `WEEKS` weeks, plus a linear
temperature term fitted on that history, within weekday groups (each day's diners less
its weekday's mean, against its outdoor temperature less the group's mean temperature):
`expected = mean(weekday) + slope x (temperature - mean temperature(weekday))`. Without
an outdoor temperature for the day, no adjustment. The backtest predicts each past day
from the days before it only, with that day's entered temperature (a perfect weather
forecast: say so), next to the seasonal-naive baseline (same weekday a week earlier).

Portions: each dish's share of the meal, times the expected diners. The hub counts no
servings, so the share is that of waste drops tagged with the dish (a proxy, shown as
such). On cold days soup and hot dishes get more: `COLD_RULE`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import fmean

from reports.kitchen import Dish

WEEKS = 8
MIN_FIT_DAYS = 4
COLD_BELOW_C = 10.0
SOUP_PER_C = 0.03
HOT_PER_C = 0.02
COLD_CAP = 0.30
COLD_RULE = (
    f"below {COLD_BELOW_C:g} °C: soup +{SOUP_PER_C:.0%} and hot dishes +{HOT_PER_C:.0%} per °C "
    f"colder, at most +{COLD_CAP:.0%}"
)
History = Mapping[tuple[date, str], float]
"""Diners counted, by (kitchen day, meal)."""


@dataclass(frozen=True, slots=True)
class MealModel:
    """What the history says about one meal on one weekday."""

    mean_diners: float
    mean_temperature: float | None
    mean_diners_with_temperature: float | None
    slope: float
    """Diners per °C, fitted on the meal's history across weekdays."""
    days: int

    def predict(self, celsius: float | None) -> float:
        """Expected diners at an outdoor temperature (None: the weekday's mean)."""
        if celsius is None or self.mean_temperature is None:
            return self.mean_diners
        base = self.mean_diners_with_temperature or self.mean_diners
        return max(0.0, base + self.slope * (celsius - self.mean_temperature))


def _window(history: History, meal: str, day: date) -> list[tuple[date, float]]:
    """The same meal on the same weekday in the WEEKS weeks before `day`."""
    days = (day - timedelta(weeks=k) for k in range(1, WEEKS + 1))
    return [(d, history[(d, meal)]) for d in days if (d, meal) in history]


def fit_slope(history: History, temperatures: Mapping[date, float], meal: str, day: date) -> float:
    """Diners per °C for a meal, within weekday groups, from the WEEKS weeks before `day`."""
    xy = xx = 0.0
    count = 0
    for offset in range(7):
        sample = [
            (d, n)
            for d, n in _window(history, meal, day + timedelta(days=offset))
            if d in temperatures
        ]
        if len(sample) < 2:
            continue
        t_mean = fmean(temperatures[d] for d, _ in sample)
        n_mean = fmean(n for _, n in sample)
        for d, n in sample:
            xy += (temperatures[d] - t_mean) * (n - n_mean)
            xx += (temperatures[d] - t_mean) ** 2
            count += 1
    return xy / xx if count >= MIN_FIT_DAYS and xx > 0 else 0.0


def meal_model(
    history: History, temperatures: Mapping[date, float], meal: str, day: date, slope: float
) -> MealModel | None:
    """The model of a meal on `day`'s weekday, from history before `day` (None: no history)."""
    sample = _window(history, meal, day)
    if not sample:
        return None
    warm = [(d, n) for d, n in sample if d in temperatures]
    return MealModel(
        fmean(n for _, n in sample),
        fmean(temperatures[d] for d, _ in warm) if warm else None,
        fmean(n for _, n in warm) if warm else None,
        slope,
        len(sample),
    )


@dataclass(frozen=True, slots=True)
class MealForecast:
    """Expected diners at one meal of one day."""

    day: date
    meal: str
    diners: float | None
    """None: no history for this weekday and meal."""
    celsius: float | None
    adjustment: float
    """Diners added (or taken) for the temperature."""


def forecast(
    history: History,
    temperatures: Mapping[date, float],
    meals: Iterable[str],
    first: date,
    days: int = 7,
) -> list[MealForecast]:
    """Expected diners per meal for `days` days from `first`, from history before `first`."""
    rows = []
    order = {meal: n for n, meal in enumerate(meals)}
    for meal in order:
        slope = fit_slope(history, temperatures, meal, first)
        for offset in range(days):
            day = first + timedelta(days=offset)
            model = meal_model(
                history, temperatures, meal, day - timedelta(weeks=_weeks_ahead(first, day)), slope
            )
            celsius = temperatures.get(day)
            if model is None:
                rows.append(MealForecast(day, meal, None, celsius, 0.0))
                continue
            expected = model.predict(celsius)
            rows.append(MealForecast(day, meal, expected, celsius, expected - model.mean_diners))
    return sorted(rows, key=lambda r: (r.day, order[r.meal]))


def _weeks_ahead(first: date, day: date) -> int:
    """0 for the first week: the model of `day` looks back from `first`, never past it."""
    return (day - first).days // 7


@dataclass(frozen=True, slots=True)
class Errors:
    """Mean absolute error (diners) and mean absolute percentage error of predictions."""

    mae: float | None
    mape: float | None
    count: int


def errors(pairs: Iterable[tuple[float, float]]) -> Errors:
    """MAE and MAPE of (predicted, actual) pairs; MAPE over actuals above zero."""
    kept = list(pairs)
    if not kept:
        return Errors(None, None, 0)
    mae = fmean(abs(p - a) for p, a in kept)
    relative = [abs(p - a) / a for p, a in kept if a > 0]
    return Errors(mae, fmean(relative) * 100 if relative else None, len(kept))


@dataclass(frozen=True, slots=True)
class Backtest:
    """The forecast and the seasonal-naive baseline on the same past days and meals."""

    first: date
    last: date
    model: Errors
    naive: Errors


def backtest(
    history: History,
    temperatures: Mapping[date, float],
    meals: Iterable[str],
    first: date,
    last: date,
) -> Backtest:
    """Predict each (day, meal) in [first, last] from the days before it; naive: a week ago."""
    model_pairs: list[tuple[float, float]] = []
    naive_pairs: list[tuple[float, float]] = []
    meal_list = list(meals)
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        for meal in meal_list:
            actual = history.get((day, meal))
            week_ago = history.get((day - timedelta(weeks=1), meal))
            if actual is None or week_ago is None:
                continue
            slope = fit_slope(history, temperatures, meal, day)
            model = meal_model(history, temperatures, meal, day, slope)
            if model is None:
                continue
            model_pairs.append((model.predict(temperatures.get(day)), actual))
            naive_pairs.append((week_ago, actual))
    return Backtest(first, last, errors(model_pairs), errors(naive_pairs))


def dish_shares(drops: Mapping[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    """Each dish's share of a meal, from drop counts by (meal, dish); shares add up to 1."""
    totals: dict[str, float] = {}
    for (meal, _), count in drops.items():
        totals[meal] = totals.get(meal, 0.0) + count
    shares: dict[str, dict[str, float]] = {}
    for (meal, dish), count in sorted(drops.items()):
        if totals[meal] > 0:
            shares.setdefault(meal, {})[dish] = count / totals[meal]
    return shares


def cold_factor(dish: Dish | None, celsius: float | None) -> float:
    """How many times the usual portions a dish gets at an outdoor temperature (COLD_RULE)."""
    if dish is None or celsius is None or celsius >= COLD_BELOW_C:
        return 1.0
    per_c = SOUP_PER_C if dish.soup else HOT_PER_C if dish.hot else 0.0
    return 1.0 + min(COLD_CAP, per_c * (COLD_BELOW_C - celsius))


@dataclass(frozen=True, slots=True)
class Portions:
    """How many portions of a dish to make for one meal."""

    day: date
    meal: str
    dish: str
    share: float
    portions: float
    cold_factor: float


def portions(
    rows: Iterable[MealForecast],
    shares: Mapping[str, Mapping[str, float]],
    dishes: Mapping[str, Dish],
) -> list[Portions]:
    """Portions per dish and meal: expected diners x the dish's share x the cold-day factor."""
    made = []
    for row in rows:
        if row.diners is None:
            continue
        for dish, share in shares.get(row.meal, {}).items():
            factor = cold_factor(dishes.get(dish), row.celsius)
            made.append(
                Portions(row.day, row.meal, dish, share, row.diners * share * factor, factor)
            )
    return made
