"""Run the real dashboard (uvicorn) against the session's Mosquitto and InfluxDB."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from canteen.local_services import LocalInfluxDB, LocalMosquitto, free_port
from canteen.settings import InfluxSettings, MqttSettings
from dashboard.server import run_dashboard
from dashboard.settings import DashboardSettings

_client_ids = itertools.count(1)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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

    def restarted(self) -> RunningDashboard:
        """Stop this dashboard and start another with the same settings (and port)."""
        self.stop()
        return RunningDashboard(self.settings).start()

    def start(self) -> RunningDashboard:
        self._thread.start()
        assert self._ready.wait(20), "the dashboard did not start within 20 s"
        return self

    def stop(self) -> None:
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


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `sudo scripts/test.sh` installs the chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
