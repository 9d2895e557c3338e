"""The forecast page's inputs: diners and dish drops from InfluxDB, weather from the menu.

History: the last `WEEKS` weeks plus the backtest's four weeks, as diners per meal-aligned
bucket (InfluxQL sums), added up per kitchen day and meal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, tzinfo

from alerts.haccp import LogPeriod
from reports.forecast import (
    WEEKS,
    Backtest,
    MealForecast,
    Portions,
    backtest,
    dish_shares,
    forecast,
    portions,
)
from reports.kitchen import MEALS, OTHER, SiteMenu, meal_of
from reports.menu import MenuStore
from reports.waste import meal_bucket_seconds, meal_totals
from reports.waste_sources import diner_buckets, dish_drops
from timeseries import InfluxQL

BACKTEST_DAYS = 28
FORECAST_DAYS = 7


@dataclass(frozen=True, slots=True)
class SiteForecast:
    """A site's forecast for the next days, its backtest and the portions that follow."""

    site: str
    first: date
    menu: SiteMenu
    meals: list[MealForecast]
    backtest: Backtest
    portions: list[Portions]
    temperatures: dict[date, float]


def site_forecast(
    influx: InfluxQL, store: MenuStore, site: str, today: date, tz: tzinfo
) -> SiteForecast:
    """Read a site's history and make its forecast from `today` on."""
    menu = store.site_menu(site)
    since = today - timedelta(days=WEEKS * 7 + BACKTEST_DAYS)
    period = LogPeriod(since, today - timedelta(days=1), tz)
    meal_s = meal_bucket_seconds(period, menu.windows)
    history = meal_totals(diner_buckets(influx, site, period, meal_s), tz, menu.windows)
    temperatures = store.outdoor_temperatures(site, since, today + timedelta(days=FORECAST_DAYS))
    drops: dict[tuple[str, str], float] = {}
    for row in dish_drops(influx, site, period, meal_s):
        meal = meal_of(menu.windows, row.start.astimezone(tz).time())
        if meal != OTHER:
            drops[(meal, row.dish)] = drops.get((meal, row.dish), 0.0) + row.grams
    meals = forecast(history, temperatures, MEALS, today, FORECAST_DAYS)
    tested = backtest(
        history,
        temperatures,
        MEALS,
        today - timedelta(days=BACKTEST_DAYS),
        today - timedelta(days=1),
    )
    made = portions(meals, dish_shares(drops), menu.dishes)
    return SiteForecast(site, today, menu, meals, tested, made, temperatures)
