"""The wall screen's broker feed on real Mosquitto: it watches, it forgets, it comes back."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from canteen.local_services import LocalMosquitto
from canteen.settings import MqttSettings
from dashboard.mqtt_feed import BrokerFeed
from ingest.mqtt_session import MqttSession
from protocol import (
    Channel,
    Status,
    Telemetry,
    TemperatureReading,
    device_topic,
    encode_status,
    encode_telemetry,
)
from tests.broker.conftest import SecuredHub, secured_hub_in
from tests.broker.mqtt_probe import Probe
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

_ids = itertools.count(1)


class Watched:
    """A started feed and what it passed on."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self.telemetry: list[Telemetry] = []
        self.status: list[tuple[str, str, Status, int]] = []
        self._lock = threading.Lock()
        self.client_id = client_id
        self.feed = BrokerFeed(settings, self._take_telemetry, self._take_status, client_id)

    def _take_telemetry(self, telemetry: Telemetry) -> None:
        with self._lock:
            self.telemetry.append(telemetry)

    def _take_status(self, site: str, device: str, status: Status, received_ms: int) -> None:
        with self._lock:
            self.status.append((site, device, status, received_ms))

    def celsius(self, site: str) -> list[float]:
        """The temperatures passed on for a site, in order."""
        with self._lock:
            return [
                reading.celsius  # type: ignore[union-attr]
                for telemetry in self.telemetry
                if telemetry.topic.site == site
                for reading in telemetry.readings
            ]

    def passes_on_a_reading_from(self, device: MqttSettings, site: str, celsius: float) -> None:
        """Publish a reading as a device (`cold-room` at `site`); wait until it is passed on."""
        probe = Probe(device, f"device-{next(_ids)}")
        assert not probe.connect().is_failure
        try:
            topic = device_topic(site, "cold-room", Channel.TELEMETRY)
            assert not probe.publish(topic, telemetry(celsius)).is_failure
            wait_until(lambda: self.celsius(site) == [celsius], message="the device's reading")
        finally:
            probe.close()

    def wait_connected(self) -> None:
        assert self.feed.connected.wait(15), "the feed did not subscribe within 15 s"


@pytest.fixture
def watch() -> Iterator[Callable[[MqttSettings], Watched]]:
    """Start feeds on a broker; stopped at teardown."""
    started: list[Watched] = []

    def start(settings: MqttSettings) -> Watched:
        watched = Watched(settings, f"test-feed-{next(_ids)}")
        watched.feed.start()
        started.append(watched)
        watched.wait_connected()
        return watched

    yield start
    for watched in started:
        watched.feed.stop()


def telemetry(celsius: float, seq: int = 1) -> bytes:
    now = datetime.now(UTC)
    return encode_telemetry(
        seq, now, [TemperatureReading(sensor="fridge-1", ts=now, celsius=celsius)]
    )


def test_it_passes_on_telemetry_and_status_and_counts_what_is_invalid(
    mosquitto: LocalMosquitto,
    watch: Callable[[MqttSettings], Watched],
    publisher: Callable[[str, bytes], None],
) -> None:
    site = f"feed-{next(_ids)}"
    watched = watch(MqttSettings.from_url(mosquitto.url))
    before = datetime.now(UTC)
    publisher(device_topic(site, "cold-room", Channel.TELEMETRY), b"{not json")
    publisher(device_topic(site, "cold-room", Channel.STATUS), b'{"v":2,"online":true}')
    publisher(
        device_topic(site, "cold-room", Channel.STATUS), encode_status(Status(v=1, online=True))
    )
    for n in range(1, 51):
        publisher(device_topic(site, "cold-room", Channel.TELEMETRY), telemetry(n / 10, n))
    wait_until(lambda: len(watched.celsius(site)) == 50, message="50 readings passed on")
    assert watched.celsius(site) == [n / 10 for n in range(1, 51)]  # in order, each once
    # other tests' agents leave retained statuses on the session's broker: keep to this site
    [(_, device, status, received_ms)] = [s for s in watched.status if s[0] == site]
    assert (device, status.online) == ("cold-room", True)
    assert received_ms >= int(before.timestamp() * 1000)
    assert watched.feed.rejected == 2


def test_it_leaves_no_session_at_the_broker(
    mosquitto: LocalMosquitto, watch: Callable[[MqttSettings], Watched]
) -> None:
    """A clean session, forgotten when it goes: it can never hold messages for anyone."""
    settings = MqttSettings.from_url(mosquitto.url)
    watched = watch(settings)
    watched.feed.stop()
    later = MqttSession(settings, watched.client_id, 10, 300, lambda: datetime.now(UTC))
    try:
        assert later.connect(["canteen/+/+/telemetry"]) is False, "the broker kept a session"
    finally:
        later.close(send_disconnect=False)  # not to leave one behind either


def test_it_reads_again_and_publishes_again_after_a_broker_restart(
    mosquitto_factory: Callable[[], LocalMosquitto],
    watch: Callable[[MqttSettings], Watched],
) -> None:
    broker = mosquitto_factory()
    settings = MqttSettings.from_url(broker.url)
    watched = watch(settings)
    broker.stop()
    wait_until(lambda: not watched.feed.connected.is_set(), message="the feed to notice")
    broker.start()  # same port, same data
    watched.wait_connected()
    watched.passes_on_a_reading_from(settings, "restart-site", 4.5)
    config = device_topic("restart-site", "bin-line", Channel.CONFIG)
    assert wait_until(lambda: watched.feed.publish_retained(config, b'{"v":1}'), timeout=20)


@pytest.fixture
def secured_hub(tmp_path: Path) -> Iterator[SecuredHub]:
    """The production broker config with `canteen broker init`'s logins."""
    hub = secured_hub_in(tmp_path)
    yield hub
    hub.broker.stop()


def test_it_logs_in_with_the_hub_login_over_tls(
    secured_hub: SecuredHub, watch: Callable[[MqttSettings], Watched]
) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    port = secured_hub.broker.tls_port
    assert port is not None
    hub = secured_hub.hub_login().model_copy(
        update={"port": port, "tls": True, "ca_file": str(secured_hub.files.ca_cert)}
    )
    watched = watch(hub)
    watched.passes_on_a_reading_from(secured_hub.device_login("site-a", "cold-room"), "site-a", 3.5)
    config = device_topic("site-a", "cold-room", Channel.CONFIG)
    assert wait_until(lambda: watched.feed.publish_retained(config, b'{"v":1}'))
    # The hub's login may write configs only: the broker's refusal comes back as False.
    topic = device_topic("site-a", "cold-room", Channel.TELEMETRY)
    assert watched.feed.publish_retained(topic, telemetry(3.5)) is False


def test_a_wrong_password_leaves_it_unconnected_and_says_why(
    secured_hub: SecuredHub, caplog: pytest.LogCaptureFixture
) -> None:
    login = secured_hub.hub_login().model_copy(update={"password": SecretStr("not-it")})
    watched = Watched(login, f"test-feed-{next(_ids)}")
    watched.feed.start()
    try:
        wait_until(
            lambda: (
                "refused the dashboard: " in caplog.text
                and "refused the dashboard's publisher" in caplog.text
            ),
            message="both connections refused",
        )
        assert not watched.feed.connected.is_set()
        assert watched.feed.publish_retained("canteen/site-a/x/config", b"{}") is False
    finally:
        watched.feed.stop()
