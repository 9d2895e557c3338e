"""Fixtures of the fault-injection suite, and the results table at the end of the run."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from canteen.local_services import LocalInfluxDB, LocalMosquitto, ServiceError
from canteen.settings import InfluxSettings
from tests.reliability import checker
from tests.reliability.harness import EdgeDevice, IngestProcess
from tests.waiting import wait_until
from timeseries import InfluxQL


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every scenario's accounting, with or without `-s`."""
    if not checker.RESULTS:
        return
    terminalreporter.section("fault-injection results")
    terminalreporter.write_line(checker.table(checker.RESULTS))
    for result in checker.RESULTS:
        terminalreporter.write_line(result.summary())


@pytest.fixture
def broker(mosquitto_factory: Callable[[], LocalMosquitto]) -> LocalMosquitto:
    """A fresh broker of the test's own, which it may kill and restart."""
    return mosquitto_factory()


def save_broker(broker: LocalMosquitto) -> None:
    """Make Mosquitto write its persistence file now (SIGUSR1), as its autosave would."""
    database = broker.workdir / "mosquitto.db"
    before = database.stat().st_mtime_ns if database.exists() else 0
    process = broker._process  # the signal needs the pid; LocalService keeps it private
    assert process is not None
    os.kill(process.pid, signal.SIGUSR1)
    wait_until(
        lambda: database.exists() and database.stat().st_mtime_ns != before,
        timeout=10,
        message="mosquitto.db written after SIGUSR1",
    )


@pytest.fixture
def private_influx(tmp_path: Path) -> Iterator[LocalInfluxDB]:
    """An InfluxDB of the test's own, which it may stop and start."""
    server = LocalInfluxDB(tmp_path / "influxdb")
    try:
        server.start()
    except ServiceError as err:
        pytest.fail(f"{err}\n(the test command `sudo scripts/test.sh` installs it)")
    yield server
    server.stop()


def database_on(server: LocalInfluxDB, name: str) -> InfluxSettings:
    """Settings for a new database `name` on `server`."""
    settings = InfluxSettings(url=server.url, database=name, api="v1")
    query = InfluxQL(settings)
    query.create_database()
    query.close()
    return settings


@pytest.fixture
def ingests(tmp_path: Path) -> Iterator[Callable[..., IngestProcess]]:
    """Make ingest subprocesses (not started); every one is stopped at teardown."""
    made: list[IngestProcess] = []

    def make(mqtt_url: str, influx: InfluxSettings, **tuning: Any) -> IngestProcess:
        ingest = IngestProcess(tmp_path / f"ingest-{len(made)}", mqtt_url, influx, **tuning)
        made.append(ingest)
        return ingest

    yield make
    for ingest in made:
        ingest.stop()


@pytest.fixture
def edges() -> Iterator[Callable[..., EdgeDevice]]:
    """Make in-process edge agents (not started); every one is stopped at teardown."""
    made: list[EdgeDevice] = []

    def make(*args: Any, **kwargs: Any) -> EdgeDevice:
        device = EdgeDevice(*args, **kwargs)
        made.append(device)
        return device

    yield make
    for device in made:
        device.stop()
