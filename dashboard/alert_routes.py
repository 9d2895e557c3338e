"""Alerts on the phone and in the API: the list, one alert by its signed link, and its actions.

A notification carries `/a/{token}`: the token names one alert and expires (alerts/links.py),
so whoever holds the link can acknowledge it, record the corrective action and close it,
and a forged or expired link is refused. The name of whoever acts is kept in a cookie, so
the next acknowledgement is one tap. Every action lands in the alert's audit trail.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from alerts import links
from alerts.alert_record import Alert
from alerts.store import AlertError, AlertStore
from dashboard.auth import require_role
from dashboard.examples import json_example
from dashboard.phone_text import what, words
from dashboard.routes import SiteName
from dashboard.unit_chart import draw, recent_temperatures
from timeseries import InfluxError

logger = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
NAME_COOKIE = "canteen_name"
CHART_HOURS = 6
NAME_MAX = 80
ACTION_MAX = 2000

# The list and the API need a staff sign-in; `/a/{token}` needs none: the signed link is
# the authorisation, and its forms need no CSRF token because the link is unguessable.
STAFF = Depends(require_role("staff"))
alert_api = APIRouter(prefix="/api", tags=["alerts"], dependencies=[STAFF])
alert_pages = APIRouter(include_in_schema=False)
Language = Annotated[Literal["en", "zh-CN"] | None, Query(description="Page language")]


def get_store(request: Request) -> AlertStore:
    """The hub's alert store; 503 when this dashboard runs no alert rules."""
    store: AlertStore | None = request.app.state.alert_store
    if store is None:
        raise HTTPException(503, "alerts are disabled on this hub (alerts.enabled: false)")
    return store


StoreDep = Annotated[AlertStore, Depends(get_store)]


def _alert_changed(request: Request, alert: Alert) -> None:
    request.app.state.screens.alerts_changed(alert.key.site)


# --- JSON API -------------------------------------------------------------------------------
@alert_api.get(
    "/sites/{site}/alerts",
    summary="A site's unresolved alerts",
    responses=json_example("site_alerts"),
)
async def site_alerts(site: SiteName, store: StoreDep) -> dict[str, Any]:
    """Open and acknowledged alerts, newest first."""
    return {"site": site, "alerts": [alert.to_json() for alert in store.live(site)]}


@alert_api.get(
    "/alerts/{alert_id}",
    summary="One alert with its audit trail and notifications",
    responses=json_example("alert"),
)
async def one_alert(
    alert_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], store: StoreDep
) -> dict[str, Any]:
    """The alert, every change made to it, and how each notification went."""
    try:
        alert = store.get(alert_id)
    except AlertError as err:
        raise HTTPException(404, str(err)) from err
    return {
        **alert.to_json(),
        "audit": store.audit(alert_id),
        "deliveries": store.deliveries(alert_id),
    }


# --- phone pages ----------------------------------------------------------------------------
def _language(request: Request, lang: str | None) -> str:
    settings = request.app.state.settings
    return lang or settings.alerts.language or settings.language


def _page(request: Request, template: str, language: str, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    tz = settings.tz()

    def local(moment: datetime | str | None) -> str:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"t": words(language), "lang": language, "local": local, "what": what, **context},
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@alert_pages.get("/alerts/{site}", response_class=HTMLResponse, dependencies=[STAFF])
async def alert_list(
    site: SiteName, request: Request, store: StoreDep, lang: Language = None
) -> HTMLResponse:
    """The phone's list of a site's open alerts, each opening its own page."""
    deliverer_link = request.app.state.alerts.deliverer.link
    now = datetime.now(UTC)
    alerts = [(alert, deliverer_link(alert.id, now)) for alert in store.live(site)]
    return _page(request, "alert_list.html", _language(request, lang), site=site, alerts=alerts)


def _verified(request: Request, token: str) -> int:
    try:
        return links.verify(request.app.state.alerts.secret_key, token, datetime.now(UTC))
    except links.LinkError as err:
        raise HTTPException(403, str(err)) from err


def _chart(request: Request, alert: Alert) -> Any:
    if not alert.key.sensor:
        return None
    now = datetime.now(UTC)
    try:
        rows = recent_temperatures(
            request.app.state.influx, *_unit(alert), end=now, hours=CHART_HOURS
        )
    except InfluxError as err:
        logger.warning("no chart for alert %d: %s", alert.id, err)
        rows = []
    start_ms = int(now.timestamp() * 1000) - CHART_HOURS * 3600_000
    policy = request.app.state.policy_of(*_unit(alert))
    limits = tuple(c for c in (policy.warning_c, policy.critical_c) if c is not None)
    return draw(rows, start_ms, int(now.timestamp() * 1000), limits)


def _unit(alert: Alert) -> tuple[str, str, str]:
    return alert.key.site, alert.key.device, alert.key.sensor


@alert_pages.get("/a/{token}", response_class=HTMLResponse)
async def alert_page(
    token: str, request: Request, store: StoreDep, lang: Language = None, saved: bool = False
) -> HTMLResponse:
    """One alert: what, since when, the unit's last hours, and the buttons to act on it."""
    language = _language(request, lang)
    try:
        alert_id = _verified(request, token)
        alert = store.get(alert_id)
    except (HTTPException, AlertError) as err:
        detail = err.detail if isinstance(err, HTTPException) else str(err)
        response = _page(request, "alert_refused.html", language, reason=detail)
        response.status_code = 403 if isinstance(err, HTTPException) else 404
        return response
    return _page(
        request,
        "alert.html",
        language,
        alert=alert,
        token=token,
        chart=_chart(request, alert),
        hours=CHART_HOURS,
        audit=store.audit(alert_id),
        name=request.cookies.get(NAME_COOKIE, ""),
        saved=saved,
    )


Name = Annotated[str, Form(min_length=1, max_length=NAME_MAX)]


def _done(token: str, who: str, lang: str | None) -> RedirectResponse:
    suffix = f"&lang={lang}" if lang else ""
    response = RedirectResponse(f"/a/{token}?saved=1{suffix}", status_code=303)
    response.set_cookie(NAME_COOKIE, who, max_age=180 * 86400, httponly=True, samesite="strict")
    return response


def _act(request: Request, token: str, change: Any) -> Alert:
    alert_id = _verified(request, token)
    try:
        alert: Alert = change(alert_id, datetime.now(UTC))
    except AlertError as err:
        raise HTTPException(409, str(err)) from err
    _alert_changed(request, alert)
    return alert


@alert_pages.post("/a/{token}/acknowledge")
async def acknowledge(
    token: str, request: Request, store: StoreDep, who: Name, lang: Language = None
) -> Response:
    """Someone on duty has seen the alert and is dealing with it."""
    who = who.strip()
    alert = _act(request, token, lambda i, now: store.acknowledge(i, who, now))
    logger.info("alert %d acknowledged by %s", alert.id, who)
    return _done(token, who, lang)


@alert_pages.post("/a/{token}/action")
async def corrective_action(
    token: str,
    request: Request,
    store: StoreDep,
    who: Name,
    text: Annotated[str, Form(min_length=1, max_length=ACTION_MAX)],
    lang: Language = None,
) -> Response:
    """Record what was done; an alert whose condition is over is resolved by it."""
    who = who.strip()

    def record(alert_id: int, now: datetime) -> Alert:
        alert = store.get(alert_id)
        if alert.state == "open":
            store.acknowledge(alert_id, who, now)
        return store.record_action(alert_id, who, text, now)

    _act(request, token, record)
    return _done(token, who, lang)


@alert_pages.post("/a/{token}/close")
async def close(
    token: str, request: Request, store: StoreDep, who: Name, lang: Language = None
) -> Response:
    """A person closes the alert (a critical one only with its corrective action)."""
    who = who.strip()
    _act(request, token, lambda i, now: store.close_by_hand(i, who, now))
    return _done(token, who, lang)
