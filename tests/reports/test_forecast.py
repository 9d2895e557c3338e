"""The forecast on generated history with a known weekly pattern and temperature effect."""

from __future__ import annotations

import random
from datetime import date, timedelta

from reports.forecast import (
    COLD_CAP,
    backtest,
    cold_factor,
    dish_shares,
    errors,
    fit_slope,
    forecast,
    portions,
)
from reports.kitchen import MEALS, Dish

START = date(2026, 6, 1)
DAYS = 120
BASE = {"breakfast": 80.0, "lunch": 300.0, "dinner": 160.0}
WEEKDAY = (1.0, 1.05, 1.1, 1.0, 0.9, 0.6, 0.5)
SLOPE = {"breakfast": -1.5, "lunch": -6.0, "dinner": -3.0}
"""Diners per °C warmer: fewer come down on hot days."""


def generated(seed: int = 7) -> tuple[dict[tuple[date, str], float], dict[date, float]]:
    """Diners by (day, meal) = base x weekday + slope x (temperature - 15) + noise."""
    rng = random.Random(seed)
    history: dict[tuple[date, str], float] = {}
    temperatures: dict[date, float] = {}
    celsius = 15.0
    for n in range(DAYS):
        day = START + timedelta(days=n)
        celsius = 15 + 0.6 * (celsius - 15) + rng.gauss(0, 5)
        temperatures[day] = round(celsius, 1)
        for meal in MEALS:
            expected = BASE[meal] * WEEKDAY[day.weekday()] + SLOPE[meal] * (celsius - 15)
            history[(day, meal)] = max(0.0, round(expected + rng.gauss(0, 4)))
    return history, temperatures


def test_the_fitted_slope_finds_the_temperature_effect() -> None:
    history, temperatures = generated()
    for meal in MEALS:
        slope = fit_slope(history, temperatures, meal, START + timedelta(days=DAYS))
        assert abs(slope - SLOPE[meal]) < 0.25 * abs(SLOPE[meal]) + 0.3, meal


def test_the_backtest_beats_seasonal_naive_on_mae() -> None:
    history, temperatures = generated()
    last = START + timedelta(days=DAYS - 1)
    tested = backtest(history, temperatures, MEALS, last - timedelta(days=27), last)
    assert tested.model.count == tested.naive.count == 28 * 3
    assert tested.model.mae is not None and tested.naive.mae is not None
    assert tested.model.mae < tested.naive.mae * 0.6
    assert tested.model.mape is not None and tested.naive.mape is not None
    assert tested.model.mape < tested.naive.mape


def test_the_forecast_follows_weekday_and_temperature() -> None:
    history, temperatures = generated()
    first = START + timedelta(days=DAYS)
    cold = {**temperatures, **{first + timedelta(days=k): 0.0 for k in range(7)}}
    rows = forecast(history, cold, MEALS, first)
    assert len(rows) == 21
    lunch = {r.day: r for r in rows if r.meal == "lunch"}
    for day, row in lunch.items():
        expected = BASE["lunch"] * WEEKDAY[day.weekday()] + SLOPE["lunch"] * (0.0 - 15)
        assert row.diners is not None
        assert abs(row.diners - expected) < 0.08 * expected, day
        assert row.adjustment > 0  # colder than the weekday's mean: more come down
    unknown = forecast(history, {}, MEALS, first)
    assert all(r.adjustment == 0 for r in unknown)


def test_no_history_is_no_forecast() -> None:
    rows = forecast({}, {}, MEALS, START)
    assert all(r.diners is None for r in rows)
    assert errors([]).mae is None


def test_errors_are_mae_and_mape() -> None:
    found = errors([(110, 100), (90, 100), (5, 0)])
    assert found.mae == (10 + 10 + 5) / 3
    assert found.mape == 10.0  # the zero actual is left out of MAPE


def test_cold_days_get_more_soup_and_hot_dishes() -> None:
    soup = Dish("tomato-soup", "番茄汤", "Tomato soup", soup=True)
    hot = Dish("hotpot", "火锅", "Hot pot", hot=True)
    salad = Dish("salad", "沙拉", "Salad")
    assert cold_factor(soup, 10.0) == 1.0
    assert cold_factor(soup, 5.0) == 1.15
    assert abs(cold_factor(hot, 5.0) - 1.10) < 1e-9
    assert cold_factor(salad, -5.0) == 1.0
    assert cold_factor(soup, -40.0) == 1.0 + COLD_CAP
    shares = dish_shares({("lunch", "tomato-soup"): 30, ("lunch", "salad"): 70})
    assert shares == {"lunch": {"salad": 0.7, "tomato-soup": 0.3}}
    rows = forecast(*generated(), ["lunch"], START + timedelta(days=DAYS), 1)
    made = portions(rows, shares, {"tomato-soup": soup, "salad": salad})
    diners = rows[0].diners
    assert diners is not None
    assert {p.dish: round(p.portions, 6) for p in made} == {
        "salad": round(diners * 0.7, 6),
        "tomato-soup": round(diners * 0.3 * cold_factor(soup, rows[0].celsius), 6),
    }
