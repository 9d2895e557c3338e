"""The waste report against a real InfluxDB loaded with 91 days of generated history.

Every figure (per day, week, month, category, dish, meal, site; grams per diner, cost,
baseline change, top dishes) is computed again here, straight from the generated drops.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from alerts.haccp import LogPeriod
from canteen.settings import InfluxSettings
from reports.kitchen import Dish, MealWindow, SiteMenu
from reports.rollups import ROLLUP_FILE, Rollups
from reports.targets import progress
from reports.waste import Group, WasteReport, group_start
from reports.waste_sources import waste_report
from tests.reports.history import SITES, TZ, History, day_of, meal_of
from timeseries import InfluxQL, V1LineWriter

pytestmark = pytest.mark.integration
LAST = date(2026, 11, 29)
DISH_COST = {"braised-pork": 42.0, "fish": 55.0, "tomato-soup": 6.0}
CATEGORY_COST = {"plate": 12.0, "prep": 4.0, "overproduction": 15.0}


@pytest.fixture(scope="module")
def history() -> History:
    return History.generated(LAST)


@pytest.fixture
def loaded(v1_influx: InfluxSettings, influxql: InfluxQL, history: History) -> InfluxQL:
    lines = history.lines()
    writer = V1LineWriter(v1_influx)
    for start in range(0, len(lines), 5000):
        writer.write(lines[start : start + 5000])
    writer.close()
    return influxql


def menus() -> dict[str, SiteMenu]:
    dishes = {slug: Dish(slug, slug, slug, cost) for slug, cost in DISH_COST.items()}
    return {site: SiteMenu(site, dishes, dict(CATEGORY_COST)) for site in SITES}


def price(category: str, dish: str) -> float | None:
    return DISH_COST.get(dish) or CATEGORY_COST.get(category)


def _sum(values: Iterable[float]) -> float:
    return sum(values, 0.0)


def expected(
    history: History, sites: set[str], first: date, last: date, group: Group
) -> dict[str, dict]:
    """The figures of the report, from the raw drops and counts."""
    drops = [d for d in history.drops if d.site in sites and first <= day_of(d.at) <= last]
    counts = [c for c in history.counts if c.site in sites and first <= day_of(c.at) <= last]
    figures: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for d in drops:
        for key, name in (("series", group_start(day_of(d.at), group)), ("category", d.category),
                          ("meal", meal_of(d.at)), ("site", d.site), ("total", "all")):  # fmt: skip
            figures[key][name] += d.grams
        if d.dish:
            figures["dish"][d.dish] += d.grams
        cost = price(d.category, d.dish)
        figures["cost"]["all"] += 0.0 if cost is None else d.grams / 1000 * cost
    for c in counts:
        figures["diners_series"][group_start(day_of(c.at), group)] += c.entered
        figures["diners_meal"][meal_of(c.at)] += c.entered
        figures["diners"]["all"] += c.entered
    return figures


def _check(report: WasteReport, want: dict[str, dict]) -> None:
    close = pytest.approx
    assert report.total.grams == close(want["total"]["all"], abs=1e-6)
    assert report.total.diners == want["diners"]["all"]
    assert report.total.grams_per_diner == close(want["total"]["all"] / want["diners"]["all"])
    assert report.total.cost == close(want["cost"]["all"], abs=1e-6)
    for day, f in report.series:
        assert f.grams == close(want["series"].get(day, 0.0), abs=1e-6), day
        assert f.diners == want["diners_series"].get(day, 0.0), day
    assert {k: close(v.grams) for k, v in report.by_category.items()} == dict(want["category"])
    for meal, f in report.by_meal.items():
        assert f.grams == close(want["meal"].get(meal, 0.0), abs=1e-6), meal
        assert f.diners == want["diners_meal"].get(meal, 0.0), meal
    assert {k: close(v.grams) for k, v in report.by_site.items()} == dict(want["site"])
    top = sorted(want["dish"].items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(d.dish, close(d.grams)) for d in report.top_dishes(3)] == top[:3]
    dish_total = _sum(want["dish"].values())
    for line in report.dishes:
        assert line.share == close(want["dish"][line.dish] / dish_total)
        cost = price("plate", line.dish) if line.dish in DISH_COST else None
        if cost is not None:
            assert line.cost == close(line.grams / 1000 * cost)


@pytest.mark.parametrize("rolled", [False, True], ids=["direct", "rollups"])
@pytest.mark.parametrize("group", ["day", "week", "month"])
def test_every_figure_of_a_site_report_matches_the_generated_history(
    loaded: InfluxQL, history: History, group: Group, rolled: bool, tmp_path: Path
) -> None:
    period = LogPeriod(history.first, history.last, TZ)
    rollups = Rollups(tmp_path / ROLLUP_FILE) if rolled else None
    want = expected(history, {"north"}, history.first, history.last, group)
    for _ in range(2 if rolled else 1):  # with rollups: once summed up, once from the cache
        report = waste_report(loaded, ["north"], period, group, menus(), rollups)
        assert len(report.series) == {"day": 91, "week": 13, "month": 4}[group]
        _check(report, want)


def test_rollups_count_late_readings_and_follow_new_meal_windows(
    loaded: InfluxQL, history: History, v1_influx: InfluxSettings, tmp_path: Path
) -> None:
    rollups = Rollups(tmp_path / ROLLUP_FILE, refresh=timedelta(0))
    period = LogPeriod(history.first, history.last, TZ)
    before = waste_report(loaded, ["north"], period, "day", menus(), rollups)
    late = datetime.combine(history.last, time(12), TZ)  # a recent day: not final yet
    writer = V1LineWriter(v1_influx)
    writer.write([f"waste,site=north,device=scale-1,sensor=bin-prep,category=prep grams=1000 "
                  f"{int(late.timestamp() * 1000)}"])  # fmt: skip
    writer.close()
    after = waste_report(loaded, ["north"], period, "day", menus(), rollups)
    assert after.total.grams == pytest.approx(before.total.grams + 1000)
    moved = {
        site: replace(m, windows=(MealWindow("lunch", time(11), time(12)),))
        for site, m in menus().items()
    }
    regrouped = waste_report(loaded, ["north"], period, "day", moved, rollups)
    direct = waste_report(loaded, ["north"], period, "day", moved)
    assert regrouped.by_meal["lunch"].grams == pytest.approx(direct.by_meal["lunch"].grams)
    assert regrouped.by_meal["other"].diners == direct.by_meal["other"].diners


def test_the_district_total_and_any_date_range(
    loaded: InfluxQL, history: History, tmp_path: Path
) -> None:
    rollups = Rollups(tmp_path / ROLLUP_FILE)
    waste_report(
        loaded, ["north"], LogPeriod(history.first, history.first, TZ), "day", menus(), rollups
    )
    first, last = history.first + timedelta(days=17), history.first + timedelta(days=40)
    for kept in (None, rollups):
        report = waste_report(loaded, list(SITES), LogPeriod(first, last, TZ), "day", menus(), kept)
        _check(report, expected(history, set(SITES), first, last, "day"))
        assert report.sites == SITES


def test_the_change_against_a_baseline_period(loaded: InfluxQL, history: History) -> None:
    now = LogPeriod(history.last - timedelta(days=29), history.last, TZ)
    base = LogPeriod(history.first, history.first + timedelta(days=29), TZ)
    current = waste_report(loaded, ["central"], now, "week", menus())
    baseline = waste_report(loaded, ["central"], base, "week", menus())
    found = progress(current, baseline, reduction_pct=10.0)
    a = expected(history, {"central"}, now.first, now.last, "week")
    b = expected(history, {"central"}, base.first, base.last, "week")
    a_gpd, b_gpd = a["total"]["all"] / a["diners"]["all"], b["total"]["all"] / b["diners"]["all"]
    assert found.per_diner_change_pct == pytest.approx((a_gpd - b_gpd) / b_gpd * 100)
    assert found.grams_change_pct == pytest.approx(
        (a["total"]["all"] / b["total"]["all"] - 1) * 100
    )
    assert found.target_grams_per_diner == pytest.approx(b_gpd * 0.9)
    assert found.target_met is (a_gpd <= b_gpd * 0.9)


def test_a_long_report_reads_summed_rows_and_then_only_recent_days(
    loaded: InfluxQL, history: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """InfluxDB sums (never raw points); with rollups, the next report re-reads recent days."""
    period = LogPeriod(history.first, history.last, TZ)
    seen: list[int] = []
    query: Callable[[str], list] = loaded.query

    def counting(statement: str) -> list:
        assert "sum(" in statement
        series = query(statement)
        seen.append(sum(len(s.values) for s in series))
        return series

    monkeypatch.setattr(loaded, "query", counting)
    rollups = Rollups(tmp_path / ROLLUP_FILE, refresh=timedelta(0))
    waste_report(loaded, list(SITES), period, "day", menus(), rollups)
    first = sum(seen)
    assert first < len(history.drops) + len(history.counts)
    seen.clear()
    waste_report(loaded, list(SITES), period, "day", menus(), rollups)
    assert 0 < sum(seen) < first / 10  # only the days not final yet (LATE) are read again
    seen.clear()
    waste_report(loaded, list(SITES), period, "day", menus(), Rollups(tmp_path / ROLLUP_FILE))
    assert seen == []  # summed less than REFRESH ago: nothing read


def test_generated_times_are_kitchen_times(history: History) -> None:
    assert all(d.at.tzinfo is not None for d in history.drops[:10])
    assert isinstance(history.drops[0].at, datetime)


def test_warming_the_rollups_lets_the_first_report_read_nothing_from_influxdb(
    loaded: InfluxQL, history: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    from canteen.settings import MqttSettings
    from dashboard.report_warmup import warm_rollups
    from dashboard.settings import DashboardSettings

    settings = DashboardSettings(
        mqtt=MqttSettings.from_url("mqtt://127.0.0.1:1"),
        influx=loaded.settings,
        timezone=str(TZ),
        state_dir=tmp_path,
    )
    state = SimpleNamespace(settings=settings, influx=loaded, menu_store=None, report_rollups=None)
    days = (datetime.now(TZ).date() - history.first).days + 1
    assert warm_rollups(state, days) == len(SITES)

    seen: list[str] = []
    query: Callable[[str], list] = loaded.query
    monkeypatch.setattr(
        loaded, "query", lambda statement: seen.append(statement) or query(statement)
    )
    period = LogPeriod(history.first, history.last, TZ)
    report = waste_report(loaded, list(SITES), period, "day", menus(), state.report_rollups)
    assert seen == [], "the manager's first report after the warm-up read InfluxDB again"
    _check(report, expected(history, set(SITES), history.first, history.last, "day"))
