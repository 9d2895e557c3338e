"""Real Mosquitto and InfluxDB processes for the tests, on free loopback ports.

A missing server fails the tests that need it with the command that installs it: the
suite never passes by skipping what it could not run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from canteen.local_services import LocalInfluxDB, LocalMosquitto, ServiceError
from canteen.settings import InfluxSettings
from tests.influx_v2_proxy import InfluxV2Proxy
from timeseries import InfluxQL

_databases = itertools.count(1)
S = TypeVar("S", LocalMosquitto, LocalInfluxDB)


def _started(make: Callable[[], S]) -> S:
    try:
        service = make()
        service.start()
    except ServiceError as err:
        pytest.fail(f"{err}\n(the test command `sudo scripts/test.sh` installs it)")
    return service


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMosquitto]:
    """One broker for the whole session; tests keep apart by site names."""
    broker = _started(lambda: LocalMosquitto(tmp_path_factory.mktemp("mosquitto")))
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[[], LocalMosquitto]]:
    """Fresh brokers of the test's own, for tests that stop or restart them."""
    brokers: list[LocalMosquitto] = []

    def make() -> LocalMosquitto:
        broker = _started(lambda: LocalMosquitto(tmp_path / f"mosquitto-{len(brokers)}"))
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    """One InfluxDB 1.x for the whole session; each test gets a database of its own."""
    server = _started(lambda: LocalInfluxDB(tmp_path_factory.mktemp("influxdb")))
    yield server
    server.stop()


@pytest.fixture
def influx_database(influxdb: LocalInfluxDB) -> str:
    """A new, empty database on the session's InfluxDB."""
    name = f"test_{next(_databases)}"
    query = InfluxQL(InfluxSettings(url=influxdb.url, database=name))
    query.create_database()
    query.close()
    return name


@pytest.fixture
def influx_v2_proxy(influxdb: LocalInfluxDB) -> Iterator[InfluxV2Proxy]:
    """An InfluxDB 2.x write API in front of the session's 1.x server."""
    proxy = InfluxV2Proxy(influxdb.url).start()
    yield proxy
    proxy.close()
