"""The menu page: dishes, costs, meal windows, targets, outdoor temperatures and bins.

`/menu/{site}` shows every form; `POST /menu/{site}` applies one of the menu's forms.
Two forms reach the waste stations through their retained config topic
(`canteen/{site}/{device}/config`): `POST /menu/{site}/serving` sets the dish being
served at one station, `POST /menu/{site}/bins` the category of its bin. Each push
carries the station's whole config, dish and category, so setting one keeps the other;
the menu store keeps what was last pushed (only once the broker has acknowledged it).
Every route needs the manager role.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dashboard.auth import CSRF_COOKIE, CSRF_FIELD, AccessDep, require_role
from dashboard.history import stored_sites
from dashboard.mqtt_feed import BrokerFeed
from dashboard.report_routes import Language, MenuDep, page_language, report_page
from dashboard.report_text import words
from dashboard.routes import SiteName
from dashboard.settings import DashboardSettings
from protocol import Channel, DeviceConfig, device_topic, encode_config
from reports.menu import CATEGORIES, Bin, MenuError, MenuStore
from reports.menu_forms import apply_form, bin_choice, serving_choice, temperature_days
from timeseries import InfluxError
from timeseries.influx import quote_literal

logger = logging.getLogger(__name__)
_push_lock = threading.Lock()
"""One push at a time: a bin's config is read, published and kept as one step."""

menu_router = APIRouter(tags=["Menu"], dependencies=[Depends(require_role("manager"))])


def waste_stations(request: Request, site: str) -> list[str]:
    """The site's devices that have sent waste readings (raise InfluxError if unreadable)."""
    rows = request.app.state.influx.rows(
        f'SHOW TAG VALUES FROM waste WITH KEY = "device" WHERE site = {quote_literal(site)}'
    )
    return sorted({row["value"] for row in rows if row["value"]})


def site_bins(request: Request, store: MenuStore, site: str) -> list[Bin]:
    """The site's waste stations: those seen sending waste, and those given a config here."""
    kept = store.bins(site)
    try:
        seen = waste_stations(request, site)
    except InfluxError as err:  # the rest of the page works without the history
        logger.warning("cannot list the waste stations of %s: %s", site, err)
        seen = []
    return [kept.get(device, Bin(device)) for device in sorted(set(seen) | set(kept))]


def push_bin(request: Request, store: MenuStore, site: str, device: str,
             change: Callable[[Bin], Bin]) -> tuple[Bin, bool]:  # fmt: skip
    """Publish a station's whole config with one part changed; keep it once acknowledged."""
    settings: DashboardSettings = request.app.state.settings
    feed: BrokerFeed = request.app.state.feed
    topic = device_topic(site, device, Channel.CONFIG, settings.mqtt.root)
    with _push_lock:
        pushed = change(store.bin(site, device))
        config = DeviceConfig(v=1, dish=pushed.dish, category=pushed.category)
        sent = feed.publish_retained(topic, encode_config(config))
        if sent:
            store.put_bin(site, pushed)
    return pushed, sent


def _menu_page(request: Request, access: AccessDep, store: MenuStore, site: str,
               language: str, status: int = 200, **context: Any) -> HTMLResponse:  # fmt: skip
    bins = site_bins(request, store, site)
    token, fresh = access.csrf_token(request)
    tz = request.app.state.settings.tz()
    today = datetime.now(UTC).astimezone(tz).date()
    days = temperature_days(today)
    response = report_page(
        request, "menu.html", language, site=site, menu=store.site_menu(site),
        categories=CATEGORIES,
        temperatures=store.outdoor_temperatures(site, days[0], days[-1]), days=days,
        csrf_field=CSRF_FIELD, csrf=token, stations=[b.device for b in bins], bins=bins,
        **context,
    )  # fmt: skip
    response.status_code = status
    if fresh is not None:
        access.set_cookie(response, request, CSRF_COOKIE, fresh, max_age=86400)
    return response


async def _form(request: Request, access: AccessDep) -> dict[str, str]:
    """The posted fields, once the CSRF token among them is checked."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    access.check_csrf(request, fields.get(CSRF_FIELD, ""))
    return fields


@menu_router.get("/menu/{site}", response_class=HTMLResponse, include_in_schema=False)
def menu_page(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
              lang: Language = None, saved: str | None = None) -> HTMLResponse:  # fmt: skip
    """Dishes, category costs, meal windows, the waste target and outdoor temperatures."""
    language = page_language(request, lang)
    return _menu_page(request, access, store, site, language, saved=bool(saved))


@menu_router.post("/menu/{site}", response_class=HTMLResponse, include_in_schema=False)
async def menu_post(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
                    lang: Language = None) -> Response:  # fmt: skip
    """Apply one of the page's forms; back to the page, or the page with what was wrong."""
    fields = await _form(request, access)
    today = datetime.now(UTC).astimezone(request.app.state.settings.tz()).date()
    try:
        apply_form(store, site, fields, today)
    except MenuError as err:
        language = page_language(request, lang)
        return _menu_page(request, access, store, site, language, 422, error=str(err))
    return RedirectResponse(f"/menu/{site}?saved=1" + (f"&lang={lang}" if lang else ""), 303)


@menu_router.post("/menu/{site}/serving", response_class=HTMLResponse, include_in_schema=False)
async def serving_post(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
                       lang: Language = None) -> Response:  # fmt: skip
    """Push the dish being served to one waste station; the page says whether it was sent."""
    fields = await _form(request, access)
    language = page_language(request, lang)
    dishes = {d.slug: d.name(language) for d in store.dishes(site)}
    try:
        stations = await run_in_threadpool(waste_stations, request, site)
    except InfluxError as err:
        raise HTTPException(503, f"the waste stations cannot be listed: {err}") from err
    try:
        device, dish = serving_choice(fields, stations + list(store.bins(site)), list(dishes))
    except MenuError as err:
        return _menu_page(request, access, store, site, language, 422, error=str(err))
    _, sent = await run_in_threadpool(
        push_bin, request, store, site, device, lambda b: replace(b, dish=dish)
    )
    t = words(language)
    text = t["serving_sent" if sent else "serving_failed"].format(
        device=device, dish=dishes[dish] if dish else t["no_dish"]
    )
    return _menu_page(
        request, access, store, site, language, 200 if sent else 503,
        **({"serving": text} if sent else {"error": text}),
    )  # fmt: skip


def _known_site(request: Request, store: MenuStore, site: str) -> bool:
    """A site with data, the dashboard's own, or one whose bins were set here before."""
    settings: DashboardSettings = request.app.state.settings
    if site == settings.default_site or store.bins(site):
        return True
    try:
        return site in stored_sites(request.app.state.influx)
    except InfluxError as err:
        raise HTTPException(503, f"the sites cannot be listed: {err}") from err


@menu_router.post("/menu/{site}/bins", response_class=HTMLResponse, include_in_schema=False)
async def bins_post(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
                    lang: Language = None) -> Response:  # fmt: skip
    """Set or clear one bin's category and push it to its station with the current dish."""
    fields = await _form(request, access)
    language = page_language(request, lang)
    t = words(language)
    try:
        device, category = bin_choice(fields)
        if not await run_in_threadpool(_known_site, request, store, site):
            raise MenuError(f"site: {site!r} has sent no readings and is not this hub's site")
    except MenuError as err:
        return _menu_page(request, access, store, site, language, 422, error=str(err))
    _, sent = await run_in_threadpool(
        push_bin, request, store, site, device, lambda b: replace(b, category=category)
    )
    text = t["bin_sent" if sent else "serving_failed"].format(
        device=device, category=t[category] if category else t["own_category"]
    )
    return _menu_page(
        request, access, store, site, language, 200 if sent else 503,
        **({"bin_status": text} if sent else {"error": text}),
    )  # fmt: skip
