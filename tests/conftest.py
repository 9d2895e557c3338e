"""Real Mosquitto and InfluxDB processes for the tests, on free loopback ports.

A missing server fails the tests that need it with the command that installs it: the
suite never passes by skipping what it could not run.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, sync_playwright

from canteen.local_services import LocalInfluxDB, LocalMosquitto, ServiceError
from canteen.settings import InfluxSettings, MqttSettings
from ingest.app import IngestSettings, run_ingest
from tests.influx_v2_proxy import InfluxV2Proxy
from timeseries import InfluxQL

_databases = itertools.count(1)
_client_ids = itertools.count(1)
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


class RunningIngest:
    """An ingest thread with its settings; `stop()` ends it."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(
            target=run_ingest, args=(settings, self.stop_event, self.ready), daemon=True
        )

    def start(self) -> RunningIngest:
        self.thread.start()
        assert self.ready.wait(15), "the ingest did not subscribe within 15 s"
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the ingest did not stop"


@pytest.fixture
def start_ingest(tmp_path: Path, mosquitto: Any) -> Iterator[Callable[..., RunningIngest]]:
    """Start ingests writing to a given InfluxDB database; stopped at teardown."""
    running: list[RunningIngest] = []

    def start(influx: InfluxSettings, **overrides: Any) -> RunningIngest:
        settings = IngestSettings(
            mqtt=MqttSettings.from_url(mosquitto.url),
            influx=influx,
            state_dir=tmp_path / f"hub-{len(running)}",
            client_id=f"test-ingest-{next(_client_ids)}",
            **overrides,
        )
        ingest = RunningIngest(settings).start()
        running.append(ingest)
        return ingest

    yield start
    for ingest in running:
        if ingest.thread.is_alive():
            ingest.stop()


@pytest.fixture
def v1_influx(influxdb: Any, influx_database: str) -> InfluxSettings:
    """Settings for a fresh database on the session's InfluxDB 1.6.7, v1 API."""
    return InfluxSettings(url=influxdb.url, database=influx_database, api="auto")


@pytest.fixture
def influxql(v1_influx: InfluxSettings) -> InfluxQL:
    """InfluxQL on the test's database."""
    return InfluxQL(v1_influx)


@pytest.fixture
def publisher(mosquitto: Any) -> Iterator[Callable[[str, bytes], None]]:
    """Publish QoS 1 messages and wait for the broker's PUBACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()

    def publish(topic: str, payload: bytes, retain: bool = False) -> None:
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    yield publish
    client.disconnect()
    client.loop_stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (one for the whole session)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `sudo scripts/test.sh` installs the chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
