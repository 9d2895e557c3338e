"""The dashboard's composition root: `create_app(settings)` and `run_dashboard`.

It builds the live state, watches the broker, serves the wall screen's page and the JSON
API (`/docs` describes it), and pushes changes to screens as server-sent events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from alerts.rules import RuleBook
from alerts.service import AlertService, day_start_in, load_secret_key, policy_lookup
from alerts.store import AlertStore
from canteen.local_services import check_port_free
from dashboard.alert_routes import alert_api, alert_pages
from dashboard.auth import Access, KioskCookie
from dashboard.auth_routes import auth_router
from dashboard.deadletter_routes import deadletter_router
from dashboard.haccp_routes import haccp_router
from dashboard.menu_routes import menu_router
from dashboard.mqtt_feed import BrokerFeed, LoopHandoff
from dashboard.report_routes import opened, report_router
from dashboard.report_warmup import keep_rollups_warm
from dashboard.routes import api_router, page_router
from dashboard.screens import Screens
from dashboard.settings import MAKE_A_KEY, DashboardSettings, weak_secret
from dashboard.users import USERS_FILE, UserStore
from protocol import Status, Telemetry
from reports.menu import MENU_FILE, MenuStore
from timeseries import InfluxQL

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DAY_CHECK_S = 30.0
ALERTS_FILE = "alerts.sqlite3"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


async def _roll_days(screens: Screens) -> None:
    while True:
        await asyncio.sleep(DAY_CHECK_S)
        screens.roll_day(datetime.now(UTC))
        for site in screens.sites_on_screen():
            await screens.ensure_expectation(site)


def hub_key(settings: DashboardSettings) -> bytes:
    """The hub's secret key (configured, or generated once into the state folder).

    Production refuses a weak one even when it was written into the key file by hand.
    """
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    key = load_secret_key(settings.state_dir, secret)
    problem = weak_secret(key.decode(errors="replace"))
    if problem and settings.environment == "production":
        raise ValueError(f"the hub's secret key {problem}: {MAKE_A_KEY}")
    if problem:
        logger.warning("the hub's secret key %s; production would refuse it", problem)
    return key


def _start_alerts(
    settings: DashboardSettings, screens: Screens, loop: asyncio.AbstractEventLoop, key: bytes
) -> AlertService:
    """Run the alert rules on this hub, telling the screens when an alert changes."""
    store = AlertStore(settings.state_dir / ALERTS_FILE)

    def changed(site: str) -> None:
        loop.call_soon_threadsafe(screens.alerts_changed, site)

    service = AlertService(
        settings.alerts,
        settings.mqtt,
        store,
        RuleBook(policy_lookup(settings.alerts, screens.kind_of), settings.tz()),
        key,
        day_start_in(settings.tz()),
        on_change=changed,
        client_id=f"{settings.mqtt_client_id}-alerts",
    )
    screens.alert_list = lambda site: [alert.to_json() for alert in store.live(site)]
    service.start()
    return service


def create_app(settings: DashboardSettings, *, watch_broker: bool = True) -> FastAPI:
    """Build the web app; it connects to the broker and InfluxDB when it starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        key = hub_key(settings)
        if settings.environment == "local" and settings.host not in LOOPBACK:
            logger.warning(
                "serving %s in local mode; a hub sets CANTEEN_ENV=production", settings.host
            )
        users = UserStore(settings.state_dir / USERS_FILE)
        app.state.access = Access(users, key, settings)
        influx = InfluxQL(settings.influx)
        screens = Screens(settings, influx)
        screens.menu_store = lambda: opened(app.state, "menu_store", MenuStore, MENU_FILE)
        app.state.screens = screens
        app.state.influx = influx
        loop = asyncio.get_running_loop()
        handoff = LoopHandoff(loop)

        def on_telemetry(telemetry: Telemetry) -> None:
            handoff.put(screens.take_telemetry, telemetry)

        def on_status(site: str, device: str, status: Status, received_ms: int) -> None:
            handoff.put(screens.take_status, site, device, status, received_ms)

        feed = BrokerFeed(settings.mqtt, on_telemetry, on_status, client_id=settings.mqtt_client_id)
        app.state.feed = feed
        alerts = _start_alerts(settings, screens, loop, key) if settings.alerts.enabled else None
        app.state.alerts = alerts
        app.state.alert_store = alerts.store if alerts is not None else None
        app.state.policy_of = policy_lookup(settings.alerts, screens.kind_of)
        if watch_broker:
            feed.start()
        roller = asyncio.create_task(_roll_days(screens))
        warmer = (
            asyncio.create_task(keep_rollups_warm(app.state, settings.rollup_warm_days))
            if settings.rollup_warm_days
            else None
        )
        await screens.ensure_history(settings.default_site)
        try:
            yield
        finally:
            roller.cancel()
            if warmer is not None:
                warmer.cancel()
            if watch_broker:
                feed.stop()
            if alerts is not None:
                alerts.stop()
                alerts.store.close()
            for name in ("menu_store", "report_rollups"):  # opened by the report pages
                store = getattr(app.state, name, None)
                if store is not None:
                    store.close()
            influx.close()
            users.close()

    app = FastAPI(
        title="Smart canteen dashboard",
        summary="The kitchen's wall screen and the JSON API behind it.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(api_router)
    app.include_router(page_router)
    app.include_router(alert_api)
    app.include_router(alert_pages)
    app.include_router(haccp_router)
    app.include_router(report_router)
    app.include_router(menu_router)
    app.include_router(deadletter_router)
    app.include_router(auth_router)
    app.add_middleware(KioskCookie)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def run_dashboard(
    settings: DashboardSettings, stop: threading.Event, ready: threading.Event | None = None
) -> None:
    """Serve the dashboard until `stop` is set; set `ready` once it accepts connections."""
    check_port_free(settings.host, settings.port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )

    def watch() -> None:
        while not stop.wait(0.1):
            if server.started and ready is not None:
                ready.set()
        server.should_exit = True

    threading.Thread(target=watch, name="dashboard-stop", daemon=True).start()
    logger.info("dashboard on http://%s:%d", settings.host, settings.port)
    server.run()
