"""The manager's reports: waste trends, the demand forecast and the menu page.

`/reports/{site}/waste` (page; `.csv`; JSON at `/api/sites/{site}/waste`) with
`?start=&end=` (kitchen days, both included; default the last 28) and `group=day|week|
month`; `/reports/district/waste` spans every site; `/reports/{site}/forecast` (JSON at
`/api/sites/{site}/forecast`); `/menu/{site}` manages dishes, costs, meal windows,
targets and outdoor temperatures; `POST /menu/{site}/serving` pushes the dish being
served to one waste station (its retained config topic). Every route needs the manager
role.
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
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from alerts.haccp import LogPeriod, PeriodError
from dashboard.auth import CSRF_COOKIE, CSRF_FIELD, AccessDep, require_role
from dashboard.downloads import csv_download
from dashboard.examples import json_example
from dashboard.history import stored_sites
from dashboard.mqtt_feed import BrokerFeed
from dashboard.report_text import words
from dashboard.routes import SiteName
from dashboard.settings import DashboardSettings
from protocol import Channel, DeviceConfig, device_topic, encode_config
from reports import charts
from reports import forecast as model
from reports.charts import kg
from reports.forecast_sources import BACKTEST_DAYS, SiteForecast, site_forecast
from reports.kitchen import OTHER
from reports.menu import CATEGORIES, MENU_FILE, MenuError, MenuStore
from reports.menu_forms import apply_form, serving_choice, temperature_days
from reports.report_json import forecast_csv, forecast_json, report_csv, report_json
from reports.rollups import ROLLUP_FILE, Rollups
from reports.targets import Progress, progress
from reports.waste import Group, WasteReport
from reports.waste_sources import waste_report
from timeseries import InfluxError
from timeseries.influx import quote_literal

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


def _page(request: Request, name: str, language: str, **context: Any) -> HTMLResponse:
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


def _language(request: Request, lang: str | None) -> str:
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
    language = _language(request, lang)
    site = DISTRICT if request.path_params["site"] == DISTRICT else report.sites[0]
    names = {d.slug: d.name(language) for s in report.sites for d in store.dishes(s)}
    return _page(
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
    language = _language(request, lang)
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
    return _page(
        request, "report_forecast.html", language, found=found, chart=chart,
        cold_rule=cold_rule, backtest_days=BACKTEST_DAYS, site=found.site,
        pivot=pivot, dishes=dishes,
    )  # fmt: skip


def waste_stations(request: Request, site: str) -> list[str]:
    """The site's devices that have sent waste readings (raise InfluxError if unreadable)."""
    rows = request.app.state.influx.rows(
        f'SHOW TAG VALUES FROM waste WITH KEY = "device" WHERE site = {quote_literal(site)}'
    )
    return sorted({row["value"] for row in rows if row["value"]})


def _menu_page(request: Request, access: AccessDep, store: MenuStore, site: str,
               language: str, status: int = 200, **context: Any) -> HTMLResponse:  # fmt: skip
    try:
        stations = waste_stations(request, site)
    except InfluxError as err:  # the rest of the page works without the history
        logger.warning("cannot list the waste stations of %s: %s", site, err)
        stations = []
    token, fresh = access.csrf_token(request)
    tz = request.app.state.settings.tz()
    today = datetime.now(UTC).astimezone(tz).date()
    days = temperature_days(today)
    response = _page(
        request, "menu.html", language, site=site, menu=store.site_menu(site),
        categories=CATEGORIES,
        temperatures=store.outdoor_temperatures(site, days[0], days[-1]), days=days,
        csrf_field=CSRF_FIELD, csrf=token, stations=stations, **context,
    )  # fmt: skip
    response.status_code = status
    if fresh is not None:
        access.set_cookie(response, request, CSRF_COOKIE, fresh, max_age=86400)
    return response


@report_router.get("/menu/{site}", response_class=HTMLResponse, include_in_schema=False)
def menu_page(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
              lang: Language = None, saved: str | None = None) -> HTMLResponse:  # fmt: skip
    """Dishes, category costs, meal windows, the waste target and outdoor temperatures."""
    return _menu_page(request, access, store, site, _language(request, lang), saved=bool(saved))


@report_router.post("/menu/{site}", response_class=HTMLResponse, include_in_schema=False)
async def menu_post(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
                    lang: Language = None) -> Response:  # fmt: skip
    """Apply one of the page's forms; back to the page, or the page with what was wrong."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    access.check_csrf(request, fields.get(CSRF_FIELD, ""))
    today = datetime.now(UTC).astimezone(request.app.state.settings.tz()).date()
    try:
        apply_form(store, site, fields, today)
    except MenuError as err:
        language = _language(request, lang)
        return _menu_page(request, access, store, site, language, 422, error=str(err))
    return RedirectResponse(f"/menu/{site}?saved=1" + (f"&lang={lang}" if lang else ""), 303)


@report_router.post("/menu/{site}/serving", response_class=HTMLResponse, include_in_schema=False)
async def serving_post(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
                       lang: Language = None) -> Response:  # fmt: skip
    """Push the dish being served to one waste station; the page says whether it was sent."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    access.check_csrf(request, fields.get(CSRF_FIELD, ""))
    language = _language(request, lang)
    dishes = {d.slug: d.name(language) for d in store.dishes(site)}
    try:
        stations = await run_in_threadpool(waste_stations, request, site)
    except InfluxError as err:
        raise HTTPException(503, f"the waste stations cannot be listed: {err}") from err
    try:
        device, dish = serving_choice(fields, stations, list(dishes))
    except MenuError as err:
        return _menu_page(request, access, store, site, language, 422, error=str(err))
    settings: DashboardSettings = request.app.state.settings
    topic = device_topic(site, device, Channel.CONFIG, settings.mqtt.root)
    feed: BrokerFeed = request.app.state.feed
    sent = await run_in_threadpool(
        feed.publish_retained, topic, encode_config(DeviceConfig(v=1, dish=dish))
    )
    t = words(language)
    text = t["serving_sent" if sent else "serving_failed"].format(
        device=device, dish=dishes[dish] if dish else t["no_dish"]
    )
    return _menu_page(
        request, access, store, site, language, 200 if sent else 503,
        **({"serving": text} if sent else {"error": text}),
    )  # fmt: skip
