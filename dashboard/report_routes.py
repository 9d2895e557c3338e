"""The manager's reports: waste trends and the demand forecast.

`/reports/{site}/waste` (page; `.csv`; JSON at `/api/sites/{site}/waste`) with
`?start=&end=` (kitchen days, both included; default the last 28) and `group=day|week|
month`; `/reports/district/waste` spans every site; `/reports/{site}/forecast` (JSON at
`/api/sites/{site}/forecast`). Every route needs the manager role. The menu page they
are priced by is in `menu_routes.py`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from alerts.haccp import LogPeriod, PeriodError
from dashboard.auth import require_role
from dashboard.downloads import csv_download
from dashboard.examples import json_example
from dashboard.history import stored_sites
from dashboard.report_text import words
from dashboard.routes import SiteName
from dashboard.settings import DashboardSettings
from reports import charts
from reports import forecast as model
from reports.charts import kg
from reports.forecast_sources import BACKTEST_DAYS, SiteForecast, site_forecast
from reports.kitchen import OTHER
from reports.menu import MENU_FILE, MenuStore
from reports.report_json import forecast_csv, forecast_json, report_csv, report_json
from reports.rollups import ROLLUP_FILE, Rollups
from reports.targets import Progress, progress
from reports.waste import Group, WasteReport
from reports.waste_sources import waste_report
from timeseries import InfluxError

logger = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
DEFAULT_DAYS = 28
DATE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
DISTRICT = "district"
HALF = 480.0
_menu_lock = threading.Lock()

report_router = APIRouter(tags=["Manager reports"], dependencies=[Depends(require_role("manager"))])
DayQuery = Annotated[
    str | None, Query(description="A kitchen day, YYYY-MM-DD", examples=["2026-11-23"])
]
GroupQuery = Annotated[Literal["day", "week", "month"], Query(description="Bucket of the trend")]
Language = Annotated[Literal["en", "zh-CN"] | None, Query(description="Page language")]


def opened(state: Any, name: str, opener: Callable[[Path], Any], file: str) -> Any:
    """A store of the app, opened on first use in the state folder, then kept on it."""
    with _menu_lock:
        if getattr(state, name, None) is None:
            settings: DashboardSettings = state.settings
            setattr(state, name, opener(settings.state_dir / file))
        return getattr(state, name)


def menu_store(request: Request) -> MenuStore:
    """The hub's menu store (state_dir / menu.sqlite3)."""
    store: MenuStore = opened(request.app.state, "menu_store", MenuStore, MENU_FILE)
    return store


def rollup_store(request: Request) -> Rollups:
    """The hub's report rollups (state_dir / report_rollups.sqlite3)."""
    kept: Rollups = opened(request.app.state, "report_rollups", Rollups, ROLLUP_FILE)
    return kept


MenuDep = Annotated[MenuStore, Depends(menu_store)]


def _day(name: str, text: str | None) -> date | None:
    if not text:
        return None
    try:
        if not DATE_FORMAT.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as err:
        raise HTTPException(422, f"{name}: {text!r} is not a date; write it as YYYY-MM-DD") from err


def _period(
    request: Request, start: str | None, end: str | None, name: str = "start/end"
) -> LogPeriod:
    tz = request.app.state.settings.tz()
    last = _day(name, end) or datetime.now(UTC).astimezone(tz).date()
    first = _day(name, start) or last - timedelta(days=DEFAULT_DAYS - 1)
    try:
        return LogPeriod(first, last, tz)
    except PeriodError as err:
        raise HTTPException(422, f"{name}: {err}") from err


def _sites(request: Request, site: str) -> list[str]:
    if site != DISTRICT:
        return [site]
    return stored_sites(request.app.state.influx) or [request.app.state.settings.default_site]


def _report(
    request: Request, store: MenuStore, site: str, start: str | None, end: str | None,
    group: Group, baseline_start: str | None, baseline_end: str | None,
) -> tuple[WasteReport, Progress | None]:  # fmt: skip
    sites = _sites(request, site)
    menus = {s: store.site_menu(s) for s in sites}
    period = _period(request, start, end)
    target = menus[sites[0]].target if site != DISTRICT else None
    if baseline_start or baseline_end:
        base = _period(request, baseline_start, baseline_end, "baseline")
    elif target is not None and target.baseline is not None:
        base = LogPeriod(*target.baseline, period.tz)
    else:
        length = timedelta(days=len(period.days()))
        base = LogPeriod(period.first - length, period.first - timedelta(days=1), period.tz)
    influx, kept = request.app.state.influx, rollup_store(request)
    try:
        report = waste_report(influx, sites, period, group, menus, kept)
        baseline = waste_report(influx, sites, base, group, menus, kept)
    except InfluxError as err:
        raise HTTPException(503, f"the waste history cannot be read: {err}") from err
    gpd = target.grams_per_diner if target else None
    pct = target.reduction_pct if target else None
    return report, progress(report, baseline, gpd, pct)


def waste_dep(
    request: Request, store: MenuDep, site: SiteName, start: DayQuery = None, end: DayQuery = None,
    group: GroupQuery = "day", baseline_start: DayQuery = None, baseline_end: DayQuery = None,
) -> tuple[WasteReport, Progress | None]:  # fmt: skip
    """The report asked for (`site` may be `district`)."""
    return _report(request, store, site, start, end, group, baseline_start, baseline_end)


WasteDep = Annotated[tuple[WasteReport, Progress | None], Depends(waste_dep)]


def report_page(request: Request, name: str, language: str, **context: Any) -> HTMLResponse:
    """Draw a report or menu template in a language, with the site selector's sites."""
    t = words(language)
    try:  # the site selector: every site with data
        sites = stored_sites(request.app.state.influx)
    except InfluxError:
        sites = []
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {"t": t, "lang": language, "sites": sites, **context},
        headers={"Cache-Control": "no-store"},
    )


def page_language(request: Request, lang: str | None) -> str:
    """The language asked for, else the dashboard's."""
    return lang or request.app.state.settings.language


def _waste_charts(
    report: WasteReport, t: dict[str, str], names: dict[str, str]
) -> dict[str, charts.Chart]:
    label = "%Y-%m" if report.group == "month" else "%m-%d"
    trend = charts.columns(
        [(d.strftime(label), f.grams) for d, f in report.series],
        [f.grams_per_diner for _, f in report.series],
    )
    cats = list(report.by_category.items())
    meals = [(m, f) for m, f in report.by_meal.items() if m != OTHER or f.grams]
    top = report.top_dishes()
    return {
        "trend": trend,
        "categories": charts.rows(
            [(t.get(k, k), f.grams) for k, f in cats], [kg(f.grams) for _, f in cats], HALF
        ),
        "meals": charts.rows(
            [(t[m], f.grams) for m, f in meals], [kg(f.grams) for _, f in meals], HALF
        ),
        "dishes": charts.rows(
            [(names.get(d.dish, d.dish), d.grams) for d in top], [kg(d.grams) for d in top]
        ),
    }


@report_router.get("/reports/{site}/waste", response_class=HTMLResponse, include_in_schema=False)
def waste_page(
    found: WasteDep, request: Request, store: MenuDep, lang: Language = None
) -> HTMLResponse:
    """Charts first (trend, categories, meals, dishes), the tables beneath."""
    report, change = found
    language = page_language(request, lang)
    site = DISTRICT if request.path_params["site"] == DISTRICT else report.sites[0]
    names = {d.slug: d.name(language) for s in report.sites for d in store.dishes(s)}
    return report_page(
        request, "report_waste.html", language, report=report, progress=change, site=site,
        charts=_waste_charts(report, words(language), names), dish_names=names,
        query=request.url.query,
    )  # fmt: skip


@report_router.get("/reports/{site}/waste.csv", summary="A site's waste report as CSV")
def waste_csv(found: WasteDep) -> Response:
    """Every figure of the report, one row each (UTF-8 with a byte-order mark)."""
    report = found[0]
    name = f"waste-{'-'.join(report.sites)[:60]}-{report.period.first}-{report.period.last}.csv"
    return csv_download(report_csv(report), name)


@report_router.get(
    "/api/sites/{site}/waste", summary="A site's waste report", responses=json_example("waste")
)
def waste_api(found: WasteDep) -> dict[str, Any]:
    """By day/week/month, category, dish, meal; grams per diner, cost, baseline change."""
    return report_json(*found)


def forecast_dep(request: Request, store: MenuDep, site: SiteName) -> SiteForecast:
    """The site's forecast from today (kitchen time)."""
    tz = request.app.state.settings.tz()
    today = datetime.now(UTC).astimezone(tz).date()
    try:
        return site_forecast(request.app.state.influx, store, site, today, tz)
    except InfluxError as err:
        raise HTTPException(503, f"the diner history cannot be read: {err}") from err


ForecastDep = Annotated[SiteForecast, Depends(forecast_dep)]


@report_router.get("/reports/{site}/forecast.csv", summary="A site's demand forecast as CSV")
def forecast_download(found: ForecastDep) -> Response:
    """Diners per meal, portions per dish and the backtest (UTF-8 with a byte-order mark)."""
    name = f"forecast-{found.site}-{found.first}.csv"
    return csv_download(forecast_csv(found), name)


@report_router.get(
    "/api/sites/{site}/forecast",
    summary="A site's demand forecast",
    responses=json_example("forecast"),
)
def forecast_api(found: ForecastDep) -> dict[str, Any]:
    """Expected diners per meal for 7 days, portions per dish, and the backtest errors."""
    return forecast_json(found)


@report_router.get("/reports/{site}/forecast", response_class=HTMLResponse, include_in_schema=False)
def forecast_page(found: ForecastDep, request: Request, lang: Language = None) -> HTMLResponse:
    """The forecast and its backtest, side by side with the seasonal-naive baseline."""
    language = page_language(request, lang)
    t = words(language)
    chart = charts.columns(
        [(f"{r.day:%m-%d} {t[r.meal]}", r.diners or 0.0) for r in found.meals], (), "", 1.0
    )
    cold_rule = t["cold_rule"].format(
        below=f"{model.COLD_BELOW_C:g}", soup=f"{model.SOUP_PER_C * 100:g}",
        hot=f"{model.HOT_PER_C * 100:g}", cap=f"{model.COLD_CAP * 100:g}",
    )  # fmt: skip
    pivot: dict[tuple[date, str], dict[str, model.Portions]] = {}
    for p in found.portions:
        pivot.setdefault((p.day, p.meal), {})[p.dish] = p
    dishes = sorted({p.dish for p in found.portions})
    return report_page(
        request, "report_forecast.html", language, found=found, chart=chart,
        cold_rule=cold_rule, backtest_days=BACKTEST_DAYS, site=found.site,
        pivot=pivot, dishes=dishes,
    )  # fmt: skip
