"""The menu page: dishes, costs, meal windows, targets, outdoor temperatures and bins.

`/menu/{site}` shows every form; `POST /menu/{site}` applies one of the menu's forms.
Two forms reach the waste stations through their retained config topic
(`canteen/{site}/{device}/config`): `POST /menu/{site}/serving` sets the dish being
served at one station, `POST /menu/{site}/bins` the category of one of its bins (a
sensor: each bin is one load cell or scale of the device). Each push carries the
station's whole config, its dish and the categories of all its bins, so setting one
keeps the others; the menu store keeps what was last pushed (only once the broker has
acknowledged it). Every route needs the manager role.
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

from canteen.ha_discovery import entities_in_influx
from dashboard.auth import CSRF_COOKIE, CSRF_FIELD, AccessDep, require_role
from dashboard.history import stored_sites
from dashboard.mqtt_feed import BrokerFeed
from dashboard.report_routes import Language, MenuDep, page_language, report_page
from dashboard.report_text import words
from dashboard.routes import SiteName
from dashboard.settings import DashboardSettings
from protocol import Channel, DeviceConfig, device_topic, encode_config
from reports.menu import MenuStore
from reports.menu_checks import CATEGORIES, MenuError
from reports.menu_forms import apply_form, bin_choice, serving_choice, temperature_days
from reports.stations import Station
from timeseries import InfluxError

logger = logging.getLogger(__name__)
_push_lock = threading.Lock()
"""One push at a time: a station's config is read, published and kept as one step."""

menu_router = APIRouter(tags=["Menu"], dependencies=[Depends(require_role("manager"))])


def waste_bins(request: Request, site: str) -> dict[str, set[str]]:
    """The site's bins that have sent waste readings: sensors by device (InfluxError if not)."""
    bins: dict[str, set[str]] = {}
    for entity in entities_in_influx(request.app.state.influx, site):
        if entity.measurement == "waste":
            bins.setdefault(entity.device, set()).add(entity.sensor)
    return bins


def waste_stations(request: Request, site: str) -> list[str]:
    """The site's devices that have sent waste readings (raise InfluxError if unreadable)."""
    return sorted(waste_bins(request, site))


def site_stations(request: Request, store: MenuStore, site: str) -> list[Station]:
    """The site's waste stations, each with its bins: seen sending waste, or set here."""
    kept = store.stations(site)
    try:
        seen = waste_bins(request, site)
    except InfluxError as err:  # the rest of the page works without the history
        logger.warning("cannot list the waste bins of %s: %s", site, err)
        seen = {}
    return [
        kept.get(device, Station(device)).with_bins(seen.get(device, ()))
        for device in sorted(set(seen) | set(kept))
    ]


def push_station(request: Request, store: MenuStore, site: str, device: str,
                 change: Callable[[Station], Station]) -> tuple[Station, bool]:  # fmt: skip
    """Publish a station's whole config with one part changed; keep it once acknowledged."""
    settings: DashboardSettings = request.app.state.settings
    feed: BrokerFeed = request.app.state.feed
    topic = device_topic(site, device, Channel.CONFIG, settings.mqtt.root)
    with _push_lock:
        pushed = change(store.station(site, device))
        config = DeviceConfig(
            v=1, dish=pushed.dish, category=pushed.category, categories=pushed.categories or None
        )
        sent = feed.publish_retained(topic, encode_config(config))
        if sent:
            store.put_station(site, pushed)
    return pushed, sent


def _menu_page(request: Request, access: AccessDep, store: MenuStore, site: str,
               language: str, status: int = 200, **context: Any) -> HTMLResponse:  # fmt: skip
    stations = site_stations(request, store, site)
    token, fresh = access.csrf_token(request)
    tz = request.app.state.settings.tz()
    today = datetime.now(UTC).astimezone(tz).date()
    days = temperature_days(today)
    response = report_page(
        request, "menu.html", language, site=site, menu=store.site_menu(site),
        categories=CATEGORIES,
        temperatures=store.outdoor_temperatures(site, days[0], days[-1]), days=days,
        csrf_field=CSRF_FIELD, csrf=token, stations=[s.device for s in stations],
        bin_stations=stations,
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
        device, dish = serving_choice(fields, stations + list(store.stations(site)), list(dishes))
    except MenuError as err:
        return _menu_page(request, access, store, site, language, 422, error=str(err))
    _, sent = await run_in_threadpool(
        push_station, request, store, site, device, lambda s: replace(s, dish=dish)
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
    if site == settings.default_site or store.stations(site):
        return True
    try:
        return site in stored_sites(request.app.state.influx)
    except InfluxError as err:
        raise HTTPException(503, f"the sites cannot be listed: {err}") from err


@menu_router.post("/menu/{site}/bins", response_class=HTMLResponse, include_in_schema=False)
async def bins_post(site: SiteName, request: Request, access: AccessDep, store: MenuDep,
                    lang: Language = None) -> Response:  # fmt: skip
    """Set or clear one bin's category; push its station's config with the other bins'."""
    fields = await _form(request, access)
    language = page_language(request, lang)
    t = words(language)
    try:
        device, sensor, category = bin_choice(fields)
        if not await run_in_threadpool(_known_site, request, store, site):
            raise MenuError(f"site: {site!r} has sent no readings and is not this hub's site")
    except MenuError as err:
        return _menu_page(request, access, store, site, language, 422, error=str(err))

    def change(station: Station) -> Station:
        if sensor is None:  # the device's default, kept from before bins had their own
            return replace(station, category=category)
        return station.with_bin(sensor, category)

    _, sent = await run_in_threadpool(push_station, request, store, site, device, change)
    text = t["bin_sent" if sent else "serving_failed"].format(
        device=device, sensor=sensor or t["other_bins"],
        category=t[category] if category else t["own_category"],
    )  # fmt: skip
    return _menu_page(
        request, access, store, site, language, 200 if sent else 503,
        **({"bin_status": text} if sent else {"error": text}),
    )  # fmt: skip
