"""deploy/docker/healthcheck.py, the hub containers' health check, against real services."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from canteen.local_services import free_port
from tests.deploy.files import DEPLOY

pytestmark = pytest.mark.integration


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "docker/healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load()


@pytest.fixture
def hub_env(mosquitto: Any, influxdb: Any, tmp_path: Path) -> dict[str, str]:
    return {
        "CANTEEN_MQTT_URL": mosquitto.url,
        "CANTEEN_INFLUX_URL": influxdb.url,
        "CANTEEN_STATE_DIR": str(tmp_path),
    }


def test_the_ingest_is_healthy_once_its_state_is_open(hub_env: dict[str, str]) -> None:
    assert healthcheck.main(["ingest"], hub_env) == 1  # no hub.sqlite3 yet
    (Path(hub_env["CANTEEN_STATE_DIR"]) / "hub.sqlite3").touch()
    assert healthcheck.main(["ingest"], hub_env) == 0


@pytest.mark.parametrize("variable", ["CANTEEN_MQTT_URL", "CANTEEN_INFLUX_URL"])
def test_the_ingest_is_unhealthy_without_a_backend(
    hub_env: dict[str, str], variable: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (Path(hub_env["CANTEEN_STATE_DIR"]) / "hub.sqlite3").touch()
    scheme = "mqtt" if variable == "CANTEEN_MQTT_URL" else "http"
    env = {**hub_env, variable: f"{scheme}://127.0.0.1:{free_port()}"}
    assert healthcheck.main(["ingest"], env) == 1
    assert "unreachable" in capsys.readouterr().out


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_dashboard_is_healthy_when_its_health_page_answers(health_server: str) -> None:
    assert healthcheck.main(["dashboard", f"{health_server}/api/health"], {}) == 0
    assert healthcheck.main(["dashboard", f"{health_server}/missing"], {}) == 1
    assert healthcheck.main(["dashboard", f"http://127.0.0.1:{free_port()}/api/health"], {}) == 1


def test_a_bad_setting_is_unhealthy_not_a_crash(capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main(["ingest"], {"CANTEEN_MQTT_URL": "http://nowhere"}) == 1
    assert "CANTEEN_MQTT_URL" in capsys.readouterr().out
    assert healthcheck.main([], {}) == 2
