"""The wall screen's page and its JSON API: sites, a site's picture now, and its live stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from dashboard.auth import wall_reader
from dashboard.examples import json_example
from dashboard.screens import Screens
from dashboard.settings import DashboardSettings
from protocol.topics import SLUG_PATTERN

KEEPALIVE_S = 15.0
RETRY_MS = 2000
PAGE = (Path(__file__).resolve().parent / "static" / "wall.html").read_text(encoding="utf-8")

SiteName = Annotated[str, PathParam(pattern=f"^{SLUG_PATTERN}$", description="Site slug")]


def get_screens(request: Request) -> Screens:
    """The app's live state and connected screens."""
    screens: Screens = request.app.state.screens
    return screens


def get_settings(request: Request) -> DashboardSettings:
    """The dashboard's settings."""
    settings: DashboardSettings = request.app.state.settings
    return settings


ScreensDep = Annotated[Screens, Depends(get_screens)]
SettingsDep = Annotated[DashboardSettings, Depends(get_settings)]

# Read by a signed-in user or the site's kiosk token (dashboard/auth.py).
api_router = APIRouter(prefix="/api", tags=["wall screen"], dependencies=[Depends(wall_reader)])
page_router = APIRouter(include_in_schema=False, dependencies=[Depends(wall_reader)])


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _site_picture(screens: Screens, site: str) -> dict[str, Any]:
    await screens.ensure_history(site)
    await screens.ensure_expectation(site)
    return screens.snapshot(site, datetime.now(UTC))


@api_router.get(
    "/sites",
    summary="Sites seen on the broker or in the database",
    responses=json_example("sites"),
)
async def list_sites(screens: ScreensDep, settings: SettingsDep) -> dict[str, Any]:
    """The sites the dashboard knows, and the one shown by default."""
    known = set(screens.state.sites()) | {settings.default_site}
    return {"sites": sorted(known), "default": settings.default_site}


@api_router.get(
    "/sites/{site}/now", summary="A site's whole picture now", responses=json_example("site_now")
)
async def site_now(site: SiteName, screens: ScreensDep) -> dict[str, Any]:
    """Cold units with their recent curves, the dining room, today's waste, devices."""
    return await _site_picture(screens, site)


def _event(name: str, document: object) -> str:
    return f"event: {name}\ndata: {json.dumps(document, separators=(',', ':'))}\n\n"


@api_router.get(
    "/sites/{site}/stream",
    summary="Live updates for a site (server-sent events)",
    response_class=StreamingResponse,
)
async def site_stream(site: SiteName, request: Request, screens: ScreensDep) -> StreamingResponse:
    """A `snapshot` event, then an `update` event with the changed sections as they change.

    An `alive` event every 15 s tells proxies and the screen's watchdog the line is
    open; the browser reconnects by itself and gets a fresh snapshot.
    """
    picture = await _site_picture(screens, site)
    screen = screens.connect(site)

    async def events() -> AsyncIterator[str]:
        try:
            yield f"retry: {RETRY_MS}\n" + _event("snapshot", picture)
            while not await request.is_disconnected():
                try:
                    await asyncio.wait_for(screen.wake.wait(), KEEPALIVE_S)
                except TimeoutError:
                    yield _event("alive", {"now_ms": _now_ms()})
                    continue
                changed = [screens.section(site, key) for key in sorted(screen.take())]
                sections = [s for s in changed if s is not None]
                if sections:
                    yield _event("update", {"now_ms": _now_ms(), "sections": sections})
        finally:
            screens.disconnect(screen)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@api_router.get(
    "/health", summary="Whether the dashboard sees the broker", responses=json_example("health")
)
async def health(request: Request, screens: ScreensDep) -> dict[str, Any]:
    """Broker connection, sites known, screens connected, and the ingest's dead letters."""
    from dashboard.deadletter_routes import dead_letter_counts

    dead = await asyncio.to_thread(dead_letter_counts, request.app.state.settings)
    return {
        "broker_connected": request.app.state.feed.connected.is_set(),
        "broker_rejected": request.app.state.feed.rejected,
        "sites": screens.state.sites(),
        "screens": screens.connected,
        "dead_letters": {"total": dead.total, "last_24h": dead.last_24h},
    }


@page_router.get("/")
async def home(settings: SettingsDep) -> RedirectResponse:
    """Send a visitor to the default site's wall screen."""
    return RedirectResponse(f"/wall/{settings.default_site}")


@page_router.get("/wall/{site}", response_class=HTMLResponse)
async def wall(
    site: SiteName,
    settings: SettingsDep,
    lang: Annotated[Literal["en", "zh-CN"] | None, Query()] = None,
) -> HTMLResponse:
    """The wall screen for a site, in the asked or the default language."""
    language = lang or settings.language
    page = PAGE.replace("{{site}}", escape(site)).replace("{{lang}}", escape(language))
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
