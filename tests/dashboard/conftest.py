"""Run the real dashboard (uvicorn) against the session's Mosquitto and InfluxDB.

Its pages need a sign-in or a kiosk token, as in production: `dashboard.client(role)` is
an httpx client signed in through the real login form as a user of that role, and
`dashboard.kiosk_url()` the wall screen's address with a kiosk token.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext

from canteen.local_services import LocalInfluxDB, LocalMosquitto, free_port
from canteen.settings import InfluxSettings, MqttSettings
from dashboard.server import run_dashboard
from dashboard.settings import DashboardSettings
from dashboard.users import USERS_FILE, Role, UserError, UserStore

_client_ids = itertools.count(1)
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def password_of(role: str) -> str:
    """The password conftest gives its user of a role (`test-ROLE`)."""
    return f"{role}-password-for-tests"


def form_token(page: httpx.Response) -> str:
    """The CSRF token in a page's form."""
    found = CSRF_INPUT.search(page.text)
    assert found, f"no CSRF token in the page {page.url}"
    return found.group(1)


class RunningDashboard:
    """A dashboard serving on a free loopback port until `stop()`."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.port}"
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=run_dashboard, args=(settings, self._stop, self._ready), daemon=True
        )
        self._cookies: dict[str, httpx.Cookies] = {}
        self._clients: list[httpx.Client] = []

    def restarted(self) -> RunningDashboard:
        """Stop this dashboard and start another with the same settings (and port)."""
        self.stop()
        again = RunningDashboard(self.settings)
        again._cookies = self._cookies  # sessions live in the state folder: still signed in
        return again.start()

    def users(self) -> UserStore:
        """The dashboard's users file (close it after use)."""
        return UserStore(self.settings.state_dir / USERS_FILE)

    def kiosk_token(self, site: str | None = None) -> str:
        """A new kiosk token for a site's wall screen (default: the default site)."""
        store = self.users()
        try:
            site = site or self.settings.default_site
            return store.add_kiosk(site, "test", datetime.now(UTC))[1]
        finally:
            store.close()

    def kiosk_url(self, site: str | None = None) -> str:
        """The wall screen's address with a kiosk token, as `canteen kiosk-token` prints it."""
        site = site or self.settings.default_site
        return f"{self.url}/wall/{site}?kiosk={self.kiosk_token(site)}"

    def add_user(self, name: str, role: Role, password: str) -> None:
        """Make a user, unless there is one of that name already."""
        store = self.users()
        try:
            store.add(name, role, password, datetime.now(UTC))
        except UserError:
            pass
        finally:
            store.close()

    def login(self, role: Role = "staff") -> httpx.Cookies:
        """The cookies of a session of `test-ROLE`, signed in through the login form."""
        if role not in self._cookies:
            self.add_user(f"test-{role}", role, password_of(role))
            with httpx.Client(base_url=self.url, timeout=10) as browser:
                token = form_token(browser.get("/login"))
                form = {"name": f"test-{role}", "password": password_of(role), "csrf_token": token}
                signed_in = browser.post("/login", data=form)
                assert signed_in.status_code == 303, signed_in.text
                self._cookies[role] = httpx.Cookies(browser.cookies)
        return self._cookies[role]

    def client(self, role: Role = "staff") -> httpx.Client:
        """A new httpx client signed in as `test-ROLE` (closed when the dashboard stops)."""
        client = httpx.Client(base_url=self.url, cookies=self.login(role), timeout=10)
        self._clients.append(client)
        return client

    def sign_in(self, context: BrowserContext, role: Role = "staff") -> None:
        """Give a browser context the session of `test-ROLE`."""
        jar = self.login(role).jar
        context.add_cookies(
            [{"name": c.name, "value": c.value or "", "url": self.url} for c in jar]
        )

    def start(self) -> RunningDashboard:
        self._thread.start()
        assert self._ready.wait(20), "the dashboard did not start within 20 s"
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._stop.set()
        self._thread.join(15)
        assert not self._thread.is_alive(), "the dashboard did not stop"


@pytest.fixture
def start_dashboard(
    mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, tmp_path: Path
) -> Iterator[Callable[..., RunningDashboard]]:
    """Start dashboards on a given database (and site); stopped at teardown."""
    running: list[RunningDashboard] = []

    def start(database: str, **overrides: Any) -> RunningDashboard:
        values: dict[str, Any] = {
            "mqtt": MqttSettings.from_url(mosquitto.url),
            "influx": InfluxSettings(url=influxdb.url, database=database),
            "port": free_port(),
            "timezone": "UTC",
            "mqtt_client_id": f"test-dashboard-{next(_client_ids)}",
            "state_dir": tmp_path / f"dashboard-{len(running)}",
        }
        dashboard = RunningDashboard(DashboardSettings(**{**values, **overrides})).start()
        running.append(dashboard)
        return dashboard

    yield start
    for dashboard in running:
        dashboard.stop()
