"""Waste report aggregation (pure) and the menu store."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.haccp import LogPeriod
from reports.kitchen import Dish, MealWindow, SiteMenu, WasteTarget
from reports.menu import MIGRATIONS, MenuStore
from reports.menu_checks import MenuError
from reports.targets import progress
from reports.waste import BucketSum, WasteSum, build_report, meal_bucket_seconds

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_buckets_straddle_neither_midnight_nor_a_meal_edge() -> None:
    period = LogPeriod(date(2026, 11, 1), date(2026, 11, 30), SHANGHAI)
    assert period.bucket_seconds() == 8 * 3600
    assert meal_bucket_seconds(period, SiteMenu("a").windows) == 1800
    odd = (MealWindow("lunch", time(11, 15), time(13, 0)),)
    assert meal_bucket_seconds(period, odd) == 900
    london = LogPeriod(date(2026, 3, 28), date(2026, 3, 30), ZoneInfo("Europe/London"))
    assert meal_bucket_seconds(london, SiteMenu("a").windows) == 1800


def _menu() -> SiteMenu:
    dishes = {"pork": Dish("pork", "红烧肉", "Braised pork", cost_per_kg=40.0)}
    return SiteMenu("a", dishes, {"plate": 10.0, "prep": 2.0})


def test_the_report_adds_buckets_by_day_category_dish_meal_and_cost() -> None:
    period = LogPeriod(date(2026, 11, 2), date(2026, 11, 3), SHANGHAI)
    waste = [
        WasteSum("a", _at(2, 8), "plate", "pork", 500.0),  # 40/kg: 20.0
        WasteSum("a", _at(2, 8), "plate", "", 300.0),  # plate 10/kg: 3.0
        WasteSum("a", _at(3, 16), "prep", "", 1000.0),  # 2/kg: 2.0
        WasteSum("a", _at(3, 16), "spoilage", "", 200.0),  # no price
        WasteSum("a", _at(4, 8), "plate", "pork", 9999.0),  # after the period
    ]
    meal_waste = [BucketSum("a", _at(2, 8), 800.0), BucketSum("a", _at(3, 17), 1200.0)]
    diners = [BucketSum("a", _at(2, 7), 40.0), BucketSum("a", _at(3, 12), 60.0)]
    report = build_report(["a"], period, "day", waste, meal_waste, diners, {"a": _menu()})
    assert report.total.grams == 2000.0
    assert report.total.diners == 100.0
    assert report.total.grams_per_diner == 20.0
    assert report.total.cost == pytest.approx(25.0)
    assert report.total.unpriced_grams == 200.0
    assert [(d, f.grams, f.diners) for d, f in report.series] == [
        (date(2026, 11, 2), 800.0, 40.0),
        (date(2026, 11, 3), 1200.0, 60.0),
    ]
    assert report.by_category["plate"].grams == 800.0
    assert report.by_meal["breakfast"].grams == 800.0
    assert report.by_meal["dinner"].grams == 1200.0
    assert report.by_meal["lunch"].diners == 60.0
    assert [(d.dish, d.grams, d.share) for d in report.top_dishes()] == [("pork", 500.0, 1.0)]


def test_weeks_and_months_start_on_monday_and_the_first() -> None:
    period = LogPeriod(date(2026, 10, 28), date(2026, 11, 10), SHANGHAI)
    report = build_report(["a"], period, "week", [], [], [], {})
    assert [d for d, _ in report.series] == [
        date(2026, 10, 26),
        date(2026, 11, 2),
        date(2026, 11, 9),
    ]
    monthly = build_report(["a"], period, "month", [], [], [], {})
    assert [d for d, _ in monthly.series] == [date(2026, 10, 1), date(2026, 11, 1)]


def test_progress_against_a_baseline_and_a_reduction_target() -> None:
    period = LogPeriod(date(2026, 11, 2), date(2026, 11, 2), SHANGHAI)
    before = LogPeriod(date(2026, 10, 5), date(2026, 10, 5), SHANGHAI)
    now = build_report(["a"], period, "day", [WasteSum("a", _at(2, 8), "plate", "", 600.0)], [],
                       [BucketSum("a", _at(2, 8), 20.0)], {})  # fmt: skip
    base = build_report(["a"], before, "day", [WasteSum("a", datetime(2026, 10, 5, 1, tzinfo=UTC),
                        "plate", "", 800.0)], [], [BucketSum("a", datetime(2026, 10, 5, 1,
                        tzinfo=UTC), 20.0)], {})  # fmt: skip
    found = progress(now, base, reduction_pct=20.0)
    assert found.per_diner_change_pct == pytest.approx(-25.0)
    assert found.grams_change_pct == pytest.approx(-25.0)
    assert found.target_grams_per_diner == pytest.approx(32.0)
    assert found.target_met is True
    assert progress(now, base, grams_per_diner=25.0).target_met is False


def test_the_menu_keeps_dishes_costs_windows_targets_and_weather(tmp_path: Path) -> None:
    store = MenuStore(tmp_path / "menu.sqlite3")
    store.put_dish("a", Dish("tomato-soup", "番茄汤", "Tomato soup", 8.5, hot=True, soup=True))
    store.set_category_cost("a", "plate", 12.0)
    store.set_meal_windows("a", (MealWindow("lunch", time(11), time(14)),))
    store.set_target("a", WasteTarget(None, 30.0, date(2026, 9, 1), date(2026, 9, 30)))
    store.set_outdoor_temperatures("a", {date(2026, 11, 2): 4.5, date(2026, 11, 3): None})
    store.close()
    store = MenuStore(tmp_path / "menu.sqlite3")
    menu = store.site_menu("a")
    assert store.schema_version == len(MIGRATIONS)
    assert menu.dishes["tomato-soup"].soup and menu.cost_per_kg("plate", "tomato-soup") == 8.5
    assert menu.cost_per_kg("plate", "unknown-dish") == 12.0
    assert [w.start for w in menu.windows] == [time(6, 30), time(11), time(16, 30)]
    assert menu.target.baseline == (date(2026, 9, 1), date(2026, 9, 30))
    assert store.outdoor_temperatures("a", date(2026, 11, 1), date(2026, 11, 9)) == {
        date(2026, 11, 2): 4.5
    }
    assert store.site_menu("b").dishes == {}


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.put_dish("a", Dish("Bad Slug", "汤", "Soup")),
        lambda s: s.put_dish("a", Dish("soup", "", "Soup")),
        lambda s: s.put_dish("a", Dish("soup", "汤", "Soup", cost_per_kg=-1)),
        lambda s: s.set_category_cost("a", "dessert", 1.0),
        lambda s: s.set_meal_windows("a", (MealWindow("lunch", time(14), time(11)),)),
        lambda s: s.set_meal_windows(
            "a", (MealWindow("lunch", time(11), time(14)), MealWindow("dinner", time(13), time(18)))
        ),
        lambda s: s.set_target("a", WasteTarget(None, 20.0)),
        lambda s: s.set_outdoor_temperatures("a", {date(2026, 1, 1): 99.0}),
    ],
)
def test_the_menu_refuses_what_makes_no_sense(tmp_path: Path, change: object) -> None:
    store = MenuStore(tmp_path / "menu.sqlite3")
    with pytest.raises(MenuError):
        change(store)  # type: ignore[operator]
