"""Simulated devices → Mosquitto → ingest → InfluxDB → dashboard API, all real processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canteen.local_services import LocalMosquitto
from canteen.settings import InfluxSettings, MqttSettings
from edge.simulation import run_simulation
from tests.conftest import RunningIngest
from tests.dashboard.conftest import RunningDashboard
from tests.waiting import wait_until
from timeseries import InfluxQL

pytestmark = pytest.mark.integration

SITE = "e2e-site"


def _stored_last(influxql: InfluxQL) -> dict[str, float]:
    rows = influxql.rows(
        "SELECT last(celsius) FROM temperature WHERE site = 'e2e-site' GROUP BY sensor"
    )
    return {row["sensor"]: row["last"] for row in rows}


def _shown(dashboard: RunningDashboard) -> dict[str, Any]:
    response = dashboard.client().get(f"{dashboard.url}/api/sites/{SITE}/now", timeout=10)
    response.raise_for_status()
    return {tile["sensor"]: tile["celsius"] for tile in response.json()["cold"]}


def test_simulated_kitchen_readings_reach_influxdb_and_the_dashboard(
    tmp_path: Path,
    mosquitto: LocalMosquitto,
    v1_influx: InfluxSettings,
    influxql: InfluxQL,
    start_ingest: Callable[..., RunningIngest],
    start_dashboard: Callable[..., RunningDashboard],
) -> None:
    start_ingest(v1_influx)
    stop = threading.Event()
    simulation = threading.Thread(
        target=run_simulation,
        args=(MqttSettings.from_url(mosquitto.url), [SITE], tmp_path / "devices", stop),
        kwargs={"interval_s": 1.0},
        daemon=True,
    )
    simulation.start()
    try:
        wait_until(
            lambda: len(_stored_last(influxql)) == 3,
            timeout=30,
            message="the three simulated cold units' readings never reached InfluxDB",
        )
        live = start_dashboard(v1_influx.database, default_site=SITE)
        first = _shown(live)
        wait_until(
            lambda: _shown(live) != first,
            timeout=30,
            message="the dashboard's values did not change while the kitchen published",
        )
    finally:
        stop.set()
        simulation.join(30)

    # With the devices stopped and everything written, a dashboard started afresh shows
    # exactly what InfluxDB holds: the value came through the database, not a shortcut.
    wait_until(
        lambda: _stored_last(influxql) == _shown(live),
        timeout=15,
        message="the live dashboard never settled on InfluxDB's last values",
    )
    fresh = start_dashboard(v1_influx.database, default_site=SITE)
    assert _shown(fresh) == _stored_last(influxql)
    assert set(_shown(fresh)) == {"fridge-1", "fridge-2", "freezer-1"}
