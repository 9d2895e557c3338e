"""The agent against a broker locked down as in production: TLS, passwords, an ACL.

Mosquitto answers a QoS 1 publish that its ACL refuses with a PUBACK all the same;
under MQTT v5 the PUBACK carries reason 0x87 (Not authorized). Taking that PUBACK for
a delivery would forget readings the hub never got, so these tests run the real
`MqttLink` and `Agent` against a real Mosquitto whose ACL refuses the device's
telemetry, then lets it through.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from canteen.local_services import LocalMosquitto, ServiceError
from canteen.settings import MqttSettings
from edge import mqtt_link
from edge.agent import Agent
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox
from tests.edge.broker_tools import Observer, Relay
from tests.edge.doubles import CountingProbe
from tests.edge.test_agent import make_config
from tests.waiting import wait_until

SITE, DEVICE = "site-tls", "cold-room"
PASSWORD = "correct-horse-battery"  # noqa: S105  (a throw-away broker's test login)
HUB_PASSWORD = "hub-only-on-this-machine"  # noqa: S105
STATUS_ONLY = f"user {DEVICE}\ntopic write canteen/{SITE}/{DEVICE}/status\n"
OWN_TOPICS = f"user {DEVICE}\ntopic write canteen/{SITE}/{DEVICE}/#\n"
HUB = "user hub\ntopic read canteen/#\n"


class RecordingClient:
    """Stands in for paho's client in the link's callbacks: records what it publishes."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.published.append((topic, retain))


class RecordingStop:
    """Stands in for the link's closing event: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return False


def test_only_a_successful_connack_marks_the_link_connected() -> None:
    link = MqttLink(MqttSettings(port=1883), SITE, DEVICE)
    link._birth = lambda: b'{"v": 1, "online": true}'  # what connect() would register
    client = RecordingClient()
    refused = ReasonCode(PacketTypes.CONNACK, "Not authorized")
    link._handle_connect(client, None, None, refused, None)  # type: ignore[arg-type]
    assert not link.is_connected() and client.published == []
    accepted = ReasonCode(PacketTypes.CONNACK, "Success")
    link._handle_connect(client, None, None, accepted, None)  # type: ignore[arg-type]
    assert link.is_connected()
    assert client.published == [(f"canteen/{SITE}/{DEVICE}/status", True)]  # retained birth


def test_reconnects_back_off_exponentially_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    link = MqttLink(MqttSettings(port=1883), SITE, DEVICE)
    stop = RecordingStop()
    monkeypatch.setattr(link, "_closing", stop)
    monkeypatch.setattr(mqtt_link.random, "uniform", max)  # the longest wait each time
    for _ in range(8):
        link._handle_connect_fail(None, None)  # type: ignore[arg-type]
    assert stop.waits == [0.5, 1, 2, 4, 8, 16, 30, 30]  # half of 1, 2, 4 ... 60 s, at most
    monkeypatch.setattr(mqtt_link.random, "uniform", min)
    link._handle_connect_fail(None, None)  # type: ignore[arg-type]
    assert stop.waits[-1] == 0  # random: anywhere from no wait at all
    accepted = ReasonCode(PacketTypes.CONNACK, "Success")
    link._handle_connect(RecordingClient(), None, None, accepted, None)  # type: ignore[arg-type]
    monkeypatch.setattr(mqtt_link.random, "uniform", max)
    link._handle_connect_fail(None, None)  # type: ignore[arg-type]
    assert stop.waits[-1] == 0.5  # a connection that worked starts the backoff again


KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
OPENSSL = (  # a private CA, then a server certificate for 127.0.0.1 signed by it
    "req -x509 {key} -keyout ca.key -out ca.crt -days 2 -subj /CN=canteen-test-ca",
    "req {key} -keyout server.key -out server.csr -subj /CN=127.0.0.1",
    "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt "
    "-days 2 -extfile san.ext",
)


def make_certificates(folder: Path) -> None:
    """The hub's TLS files, as its setup makes them: a CA and a server certificate."""
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for command in OPENSSL:
        arguments = command.format(key=KEY).split()
        subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True)


@dataclass
class SecuredBroker:
    """Mosquitto with TLS only, no anonymous login, per-user passwords and an ACL file."""

    broker: LocalMosquitto
    folder: Path

    @property
    def ca_file(self) -> str:
        return str(self.folder / "ca.crt")

    def login(self, user: str, password: str, port: int | None = None) -> MqttSettings:
        url = f"mqtts://{user}:{password}@127.0.0.1:{port or self.broker.port}"
        return MqttSettings.from_url(url, ca_file=self.ca_file)

    def set_acl(self, text: str) -> None:
        """Write the ACL and restart the broker to load it."""
        (self.folder / "acl").write_text(text + HUB)
        if self.broker.running:
            self.broker.restart()


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    folder = tmp_path / "broker-secrets"
    folder.mkdir()
    try:
        make_certificates(folder)
        for user, password in ((DEVICE, PASSWORD), ("hub", HUB_PASSWORD)):
            create = ["-c"] if user == DEVICE else []
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(folder / "passwords"), user, password],
                check=True,
                capture_output=True,
            )
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.fail(f"cannot make the broker's certificates or passwords: {err}")
    extra = (
        "allow_anonymous false\n"
        f"password_file {folder / 'passwords'}\n"
        f"acl_file {folder / 'acl'}\n"
        f"cafile {folder / 'ca.crt'}\ncertfile {folder / 'server.crt'}\n"
        f"keyfile {folder / 'server.key'}\n"
    )
    secured = SecuredBroker(LocalMosquitto(tmp_path / "mosquitto", extra=extra), folder)
    secured.set_acl(OWN_TOPICS)
    try:
        secured.broker.start()
    except ServiceError as err:
        pytest.fail(str(err))
    yield secured
    secured.broker.stop()


def run_agent(
    tmp_path: Path, login: MqttSettings, probe: CountingProbe
) -> tuple[Agent, MqttLink, Callable[[], None]]:
    link = MqttLink(login, SITE, DEVICE)
    agent = Agent(
        make_config(tmp_path, site=SITE, device=DEVICE),
        [probe],
        Outbox(tmp_path / "outbox.sqlite3"),
        link,
    )
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(10)
        link.close()

    return agent, link, finish


@pytest.mark.integration
def test_the_agent_logs_in_over_tls_with_its_password(
    tmp_path: Path, secured_broker: SecuredBroker
) -> None:
    broker = secured_broker.broker
    hub = Observer(broker.host, broker.port, SITE, secured_broker.login("hub", HUB_PASSWORD))
    wait_until(hub.subscribed.is_set, timeout=10, message="the hub subscribed over TLS")
    probe = CountingProbe(interval_s=0.1)
    _, link, finish = run_agent(tmp_path, secured_broker.login(DEVICE, PASSWORD), probe)
    try:
        wait_until(link.is_connected, timeout=15, message="the device logged in over TLS")
        wait_until(lambda: len(hub.seqs_by_reading()) >= 5, timeout=15, message="telemetry")
        assert hub.statuses()[0][0]["online"] is True
    finally:
        finish()
        hub.close()


@pytest.mark.integration
def test_a_wrong_password_is_never_taken_for_a_connection(
    tmp_path: Path, secured_broker: SecuredBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="edge.mqtt_link")
    _, link, finish = run_agent(
        tmp_path, secured_broker.login(DEVICE, "not-the-password"), CountingProbe()
    )
    try:
        wait_until(lambda: "refused" in caplog.text, timeout=15, message="the broker's refusal")
        assert not link.is_connected()
    finally:
        finish()


@pytest.mark.integration
def test_a_publish_the_acl_refuses_stays_in_the_outbox_until_the_broker_takes_it(
    tmp_path: Path, secured_broker: SecuredBroker
) -> None:
    broker = secured_broker.broker
    secured_broker.set_acl(STATUS_ONLY)  # a provisioning mistake: telemetry not allowed
    relay = Relay(broker.host, broker.port)
    hub = Observer(broker.host, broker.port, SITE, secured_broker.login("hub", HUB_PASSWORD))
    wait_until(hub.subscribed.is_set, timeout=10, message="the hub subscribed")
    probe = CountingProbe(interval_s=0.1)
    agent, link, finish = run_agent(
        tmp_path, secured_broker.login(DEVICE, PASSWORD, relay.port), probe
    )
    try:
        wait_until(lambda: agent.refusals >= 3, timeout=15, message="PUBACKs with 0x87")
        probe.paused = True
        # Refused, not delivered: the broker passed nothing on, the agent forgot nothing.
        wait_until(
            lambda: agent.outbox.backlog() == len(probe.expected()),
            timeout=10,
            message="every reading taken still in the outbox",
        )
        assert link.refused >= 3 and hub.telemetry() == []
        assert hub.statuses()[0][0]["online"] is True  # its status topic was allowed
        relay.open.clear()  # the device waits until the hub listens again
        hub.subscribed.clear()
        secured_broker.set_acl(OWN_TOPICS)  # the operator fixes the ACL
        wait_until(hub.subscribed.is_set, timeout=15, message="the hub back")
        relay.open.set()
        wait_until(
            lambda: set(hub.seqs_by_reading()) == probe.expected(),
            timeout=60,
            message="the refused readings delivered once the ACL allows them",
        )
        wait_until(lambda: agent.outbox.backlog() == 0, timeout=15, message="outbox empty")
    finally:
        finish()
        hub.close()
        relay.close()
    assert all(len(seqs) == 1 for seqs in hub.seqs_by_reading().values())
    assert hub.bodies_agree_per_seq()
