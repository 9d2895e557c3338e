"""The HACCP temperature log of a site: a printable page, a CSV download and JSON.

`GET /haccp/{site}?start=YYYY-MM-DD&end=YYYY-MM-DD` is the page (print it, or save it as
PDF from the browser), `/haccp/{site}.csv` the same log for a spreadsheet and
`/api/sites/{site}/haccp` as JSON. Dates are kitchen days, both included; without them
the log covers the last 7 days, today included. alerts/haccp.py says what each figure is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from alerts.haccp import (
    CheckReading,
    Excursion,
    HaccpLog,
    LoggedUnit,
    LogPeriod,
    PeriodError,
    UnitDay,
    build_log,
)
from alerts.haccp_sources import read_temperatures, read_unit_alerts
from dashboard.auth import require_role
from dashboard.downloads import csv_download
from dashboard.examples import json_example
from dashboard.haccp_text import excursion_parts, limits_text, words
from dashboard.report_routes import page_language
from dashboard.routes import SiteName
from dashboard.settings import DashboardSettings
from timeseries import InfluxError

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
DEFAULT_DAYS = 7
DATE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
MARKS = {"ok": "", "warning": " ▲", "critical": " ▲▲"}

haccp_router = APIRouter(
    tags=["HACCP temperature log"], dependencies=[Depends(require_role("manager"))]
)
DayQuery = Annotated[
    str | None,
    Query(description="A kitchen day, YYYY-MM-DD (both ends included)", examples=["2026-11-23"]),
]
Language = Annotated[Literal["en", "zh-CN"] | None, Query(description="Page language")]


def _day(name: str, text: str | None) -> date | None:
    if not text:
        return None
    try:
        if not DATE_FORMAT.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as err:
        raise HTTPException(
            422, f"{name}: {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-23"
        ) from err


def log_period(
    settings: DashboardSettings, start: str | None, end: str | None, now: datetime
) -> LogPeriod:
    """The period asked for; by default the last 7 kitchen days (422 when it makes no sense)."""
    tz = settings.tz()
    last = _day("end", end) or now.astimezone(tz).date()
    first = _day("start", start) or last - timedelta(days=DEFAULT_DAYS - 1)
    try:
        return LogPeriod(first, last, tz, tuple(settings.haccp_check_times))
    except PeriodError as err:
        raise HTTPException(422, f"start/end: {err}") from err


def _unit_of(request: Request, site: str) -> Callable[[str], LoggedUnit]:
    kind_of = request.app.state.screens.kind_of
    policy_of = request.app.state.policy_of

    def unit_of(sensor: str) -> LoggedUnit:
        policy = policy_of(site, "", sensor)
        kind = kind_of(sensor).value
        return LoggedUnit(sensor, kind, policy.warning_c, policy.critical_c, policy.too_cold_is_bad)

    return unit_of


def haccp_log(
    site: SiteName, request: Request, start: DayQuery = None, end: DayQuery = None
) -> HaccpLog:
    """Read and make a site's log for the period asked for."""
    settings: DashboardSettings = request.app.state.settings
    now = datetime.now(UTC)
    period = log_period(settings, start, end, now)
    try:
        spans, readings = read_temperatures(request.app.state.influx, site, period, now)
    except InfluxError as err:
        raise HTTPException(503, f"the temperature history cannot be read: {err}") from err
    alerts = read_unit_alerts(request.app.state.alert_store, site, period)
    zone = settings.zone_name() or str(period.tz)
    return build_log(site, period, spans, readings, alerts, _unit_of(request, site), now, zone)


LogDep = Annotated[HaccpLog, Depends(haccp_log)]


# --- JSON -----------------------------------------------------------------------------------
def _iso(moment: datetime | None, tz: tzinfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None


def _check_json(check: CheckReading, tz: tzinfo) -> dict[str, Any]:
    return {
        "time": check.check.strftime("%H:%M"),
        "status": check.status,
        "celsius": check.celsius,
        "reading_at": _iso(check.at, tz),
    }


def _excursion_json(excursion: Excursion, tz: tzinfo) -> dict[str, Any]:
    alert = excursion.alert
    return {
        "alert_id": alert.id,
        "kind": alert.key.kind.value,
        "severity": alert.severity.value,
        "state": alert.state,
        "since": _iso(alert.since, tz),
        "cleared_at": _iso(alert.cleared_at, tz),
        "ongoing": excursion.ongoing,
        "duration_minutes": round(excursion.duration.total_seconds() / 60, 1),
        "value_c": alert.value,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": _iso(alert.acknowledged_at, tz),
        "corrective_action": alert.corrective_action,
        "resolved_by": alert.resolved_by,
        "resolved_at": _iso(alert.resolved_at, tz),
    }


def _unit_day_json(row: UnitDay, tz: tzinfo) -> dict[str, Any]:
    return {
        "sensor": row.unit.sensor,
        "readings": row.readings,
        "min_c": row.low,
        "max_c": row.high,
        "mean_c": row.mean,
        "checks": [_check_json(check, tz) for check in row.checks],
        "excursions": [_excursion_json(e, tz) for e in row.excursions],
    }


def log_json(log: HaccpLog) -> dict[str, Any]:
    """The log as the API returns it; times in the kitchen's zone, with their offset."""
    tz = log.period.tz
    return {
        "site": log.site,
        "start": log.period.first.isoformat(),
        "end": log.period.last.isoformat(),
        "timezone": log.zone,
        "generated_at": _iso(log.generated_at, tz),
        "check_times": [check.strftime("%H:%M") for check in log.period.check_times],
        "check_tolerance_minutes": log.period.tolerance.total_seconds() / 60,
        "units": [
            {
                "sensor": unit.sensor,
                "kind": unit.kind,
                "warning_c": unit.warning_c,
                "critical_c": unit.critical_c,
                "too_cold_is_bad": unit.too_cold_is_bad,
            }
            for unit in log.units
        ],
        "days": [
            {"date": day.day.isoformat(), "units": [_unit_day_json(u, tz) for u in day.units]}
            for day in log.days
        ],
    }


# --- CSV ------------------------------------------------------------------------------------
def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _check_cells(check: CheckReading, tz: tzinfo) -> list[str]:
    if check.at is None:
        return ["", "no reading" if check.status == "missing" else "not yet"]
    return [_number(check.celsius), check.at.astimezone(tz).strftime("%H:%M:%S")]


def log_csv(log: HaccpLog) -> str:
    """One row per unit and day, in English; excursions described in the last column."""
    tz, t = log.period.tz, words("en")
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\r\n")
    checks = [check.strftime("%H%M") for check in log.period.check_times]
    table.writerow(
        ["date", "unit", "kind", "readings", "min_c", "max_c", "mean_c"]
        + [column for hhmm in checks for column in (f"check_{hhmm}_c", f"check_{hhmm}_at")]
        + ["excursions", "excursion_details"]
    )
    for day in log.days:
        for row in day.units:
            table.writerow(
                [day.day.isoformat(), row.unit.sensor, row.unit.kind, row.readings]
                + [_number(row.low), _number(row.high), _number(row.mean)]
                + [cell for check in row.checks for cell in _check_cells(check, tz)]
                + [len(row.excursions)]
                + [" | ".join("; ".join(excursion_parts(e, t, tz)) for e in row.excursions)]
            )
    return out.getvalue()


# --- routes ---------------------------------------------------------------------------------
@haccp_router.get("/haccp/{site}.csv", summary="A site's HACCP temperature log as CSV")
def haccp_csv(log: LogDep) -> Response:
    """The log as a CSV file (UTF-8 with a byte-order mark, so spreadsheets read Chinese)."""
    name = f"haccp-{log.site}-{log.period.first}-{log.period.last}.csv"
    return csv_download(log_csv(log), name)


@haccp_router.get(
    "/api/sites/{site}/haccp",
    summary="A site's HACCP temperature log",
    responses=json_example("haccp"),
)
def haccp_api(log: LogDep) -> dict[str, Any]:
    """Per unit and kitchen day: min / max / mean, the check-time readings, excursions."""
    return log_json(log)


@haccp_router.get("/haccp/{site}", response_class=HTMLResponse, include_in_schema=False)
def haccp_page(log: LogDep, request: Request, lang: Language = None) -> HTMLResponse:
    """The log as a page to print for the inspector's file."""
    language = page_language(request, lang)
    t = words(language)
    tz = log.period.tz

    def celsius(unit: LoggedUnit, value: float | None) -> str:
        if value is None:
            return ""
        verdict, text = unit.verdict(value), f"{value:.1f}"
        if verdict != unit.verdict(float(text)):  # 5.04 is beyond 5, "5.0" would not say so
            text = f"{value:.2f}"
        return text + MARKS[verdict]

    context = {
        "log": log,
        "t": t,
        "lang": language,
        "weekdays": t["weekdays"].split(","),
        "celsius": celsius,
        "clock": lambda moment: moment.astimezone(tz).strftime("%H:%M"),
        "limits": lambda unit: limits_text(unit, t),
        "describe": lambda excursion: excursion_parts(excursion, t, tz),
        "rules": [
            t["rule_day"].format(zone=log.zone),
            t["rule_stats"],
            t["rule_checks"].format(minutes=int(log.period.tolerance.total_seconds() // 60)),
            t["rule_excursions"],
            t["marks"],
        ],
        "made": log.generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
    }
    return TEMPLATES.TemplateResponse(
        request, "haccp.html", context, headers={"Cache-Control": "no-store"}
    )
