"""Fixtures of the alert tests: a store on a temporary file, a deliverer, a running service."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from alerts.notify import Deliverer
from alerts.rules import RuleBook
from alerts.service import AlertService, day_start_in, policy_lookup
from alerts.settings import AlertSettings
from alerts.store import AlertStore
from canteen.cold_units import guess_kind
from canteen.local_services import LocalMosquitto
from canteen.settings import MqttSettings
from tests.alerts.doubles import (
    SECRET,
    FridgeNode,
    RunningAlerts,
    StartAlerts,
    channel_settings,
    utc_midnight,
)
from tests.notify_endpoint import NotificationEndpoint

_sites = itertools.count(1)
_client_ids = itertools.count(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    """An alert store on a fresh SQLite file."""
    alert_store = AlertStore(tmp_path / "alerts.sqlite3")
    yield alert_store
    alert_store.close()


@pytest.fixture
def make_deliverer(store: AlertStore) -> Callable[..., Deliverer]:
    """A deliverer on the test's store: `make_deliverer(sender, **settings)`."""

    def make(sender: Any, **overrides: Any) -> Deliverer:
        return Deliverer(channel_settings(**overrides), store, sender, SECRET, utc_midnight)

    return make


# --- the alert service against a real broker --------------------------------------------


@pytest.fixture
def endpoint() -> Iterator[NotificationEndpoint]:
    """A notification endpoint that answers 200."""
    server = NotificationEndpoint().start()
    yield server
    server.close()


@pytest.fixture
def site() -> str:
    """A site name of the test's own (the session's broker is shared)."""
    return f"alerts-{next(_sites)}-{secrets.token_hex(3)}"


@pytest.fixture
def start_alerts(tmp_path: Path, mosquitto: LocalMosquitto) -> Iterator[StartAlerts]:
    """`start_alerts(settings, client_id=..., db=...)`: a started service; stopped at teardown."""
    running: list[RunningAlerts] = []

    def start(
        settings: AlertSettings, *, client_id: str = "", db: str = "alerts.sqlite3"
    ) -> RunningAlerts:
        service = AlertService(
            settings,
            MqttSettings.from_url(mosquitto.url),
            AlertStore(tmp_path / db),
            RuleBook(policy_lookup(settings, guess_kind), UTC),
            SECRET,
            day_start_in(UTC),
            client_id=client_id or f"test-alerts-{next(_client_ids)}",
        )
        alerts = RunningAlerts(service)
        running.append(alerts)
        return alerts.start()

    yield start
    for alerts in running:
        alerts.stop()


@pytest.fixture
def fridge(publisher: Callable[[str, bytes], None], site: str) -> FridgeNode:
    """The test's fridge node, fridge-1 on `{site}/node-1`."""
    return FridgeNode(publisher, site, "fridge-1")
