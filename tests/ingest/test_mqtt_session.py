"""The ingest's own MQTT 5 session: packets parsed right, session kept, acks where they belong."""

from __future__ import annotations

import itertools
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from canteen.settings import MqttSettings
from ingest.mqtt_session import (
    BrokerRefused,
    ConnectionLost,
    MqttSession,
    PacketReader,
    _varint,
    connect_packet,
)
from ingest.pipeline import Inbound
from ingest.source import BrokerSource
from tests.broker.conftest import SecuredHub, secured_hub_in
from tests.waiting import wait_until

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
_ids = itertools.count(1)


def publish_packet(topic: str, payload: bytes, qos: int, packet_id: int, props: bytes) -> bytes:
    body = struct.pack("!H", len(topic.encode())) + topic.encode()
    if qos:
        body += struct.pack("!H", packet_id)
    body += _varint(len(props)) + props + payload
    return bytes([0x30 | qos << 1]) + _varint(len(body)) + body


publishes = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=30),
        st.binary(max_size=300),
        st.sampled_from([0, 1]),
        st.integers(1, 65535),
        st.sampled_from([b"", b"\x01\x01", b"\x02\x00\x00\x0e\x10"]),  # none, format, expiry
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(publishes, st.lists(st.integers(1, 200), max_size=30), st.booleans())
def test_packets_split_anywhere_come_out_whole_and_in_order(
    packets: list[tuple[str, bytes, int, int, bytes]], cuts: list[int], with_pings: bool
) -> None:
    stream = b""
    for topic, payload, qos, packet_id, props in packets:
        stream += publish_packet(topic, payload, qos, packet_id, props)
        if with_pings:
            stream += b"\xd0\x00"  # PINGRESP between them
    reader = PacketReader(generation=7)
    got: list[Inbound] = []
    control: list[int] = []
    position = 0
    for cut in [*cuts, len(stream)]:
        messages, others = reader.feed(stream[position : position + cut], NOW)
        got.extend(messages)
        control.extend(kind for kind, _ in others)
        position += cut
    messages, others = reader.feed(stream[position:], NOW)
    got.extend(messages)
    control.extend(kind for kind, _ in others)
    expected = [
        Inbound(topic, payload, NOW, packet_id if qos else 0, qos, 7)
        for topic, payload, qos, packet_id, _ in packets
    ]
    assert got == expected
    assert control == ([13] * len(packets) if with_pings else [])


def test_a_length_over_four_bytes_is_a_broken_stream() -> None:
    with pytest.raises(ConnectionLost, match="length"):
        PacketReader(1).feed(b"\x30\xff\xff\xff\xff\x01", NOW)


@pytest.fixture
def session_for(mosquitto: Any) -> Iterator[Callable[..., MqttSession]]:
    opened: list[MqttSession] = []

    def make(client_id: str, **overrides: Any) -> MqttSession:
        session = MqttSession(
            overrides.pop("settings", MqttSettings.from_url(mosquitto.url)),
            client_id,
            receive_maximum=overrides.pop("receive_maximum", 100),
            session_expiry_s=300,
            clock=lambda: NOW,
            **overrides,
        )
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


def receive_all(session: MqttSession, count: int, timeout: float = 10.0) -> list[Inbound]:
    got: list[Inbound] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got.extend(session.receive(0.2))
    return got


def test_the_session_outlives_the_connection_and_unacked_messages_come_again(
    session_for: Callable[..., MqttSession], publisher: Callable[[str, bytes], None]
) -> None:
    site = f"session-{next(_ids)}"
    filters = [f"canteen/{site}/+/telemetry"]
    session = session_for(f"test-session-{site}")
    assert session.connect(filters) is False  # a new session
    session.close()
    for n in range(5):  # queued by the broker while the ingest is away
        publisher(f"canteen/{site}/pi-1/telemetry", f"m{n}".encode())
    assert session.connect(filters) is True
    first = receive_all(session, 5)
    assert [m.payload for m in first] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert {m.qos for m in first} == {1} and {m.generation for m in first} == {2}
    session.ack(first[:3])  # the last two are not stored yet when the connection breaks
    session.close()
    session.connect(filters)
    again = receive_all(session, 2)
    assert [m.payload for m in again] == [b"m3", b"m4"] and {m.generation for m in again} == {3}
    session.ack(first[3:])  # acks of the previous connection are not sent...
    session.close()
    session.connect(filters)
    assert [m.payload for m in receive_all(session, 2)] == [b"m3", b"m4"]  # ...so they come again


def test_keep_alive_holds_the_connection_while_the_caller_is_busy_elsewhere(
    session_for: Callable[..., MqttSession], publisher: Callable[[str, bytes], None]
) -> None:
    site = f"session-{next(_ids)}"
    session = session_for(f"test-keepalive-{site}", keepalive_s=2)
    session.connect([f"canteen/{site}/+/status"])
    time.sleep(5)  # more than 1.5 keep-alives without a read: only the pinger speaks
    publisher(f"canteen/{site}/pi-1/status", b"{}")
    [message] = receive_all(session, 1)
    assert message.generation == 1 and session.connected


def test_the_in_flight_window_is_what_the_session_asked_for(
    session_for: Callable[..., MqttSession], publisher: Callable[[str, bytes], None]
) -> None:
    site = f"session-{next(_ids)}"
    filters = [f"canteen/{site}/+/telemetry"]
    session = session_for(f"test-window-{site}", receive_maximum=3)
    session.connect(filters)
    for n in range(5):
        publisher(f"canteen/{site}/pi-1/telemetry", f"m{n}".encode())
    held = receive_all(session, 5, timeout=2)
    assert len(held) == 3  # no more until acknowledged
    session.ack(held)
    assert len(receive_all(session, 2)) == 2


def test_a_batch_is_bounded_by_messages_and_by_bytes(
    session_for: Callable[..., MqttSession],
    publisher: Callable[[str, bytes], None],
) -> None:
    site = f"session-{next(_ids)}"
    filters = [f"canteen/{site}/+/telemetry"]
    session = session_for(f"test-bounds-{site}")
    session.connect(filters)
    for n in range(10):
        publisher(f"canteen/{site}/pi-1/telemetry", bytes([n]) * 1000)
    source = BrokerSource(
        session, filters, threading.Event(), 4, 2500, 0.2, "mqtt://test", max_age_s=5
    )
    sizes = []
    while sum(sizes) < 10:
        batch = source.collect(5)
        assert batch, "a batch was expected"
        sizes.append(len(batch))
        source.ack(batch)
    assert sizes == [3, 3, 3, 1]  # 2,500 bytes end a batch at its third message


@pytest.fixture
def secured_hub(tmp_path: Path) -> Iterator[SecuredHub]:
    """The production broker config with `canteen broker init`'s logins."""
    hub = secured_hub_in(tmp_path)
    yield hub
    hub.broker.stop()


def test_a_wrong_password_names_the_cause(secured_hub: SecuredHub) -> None:
    login = secured_hub.hub_login().model_copy(update={"password": SecretStr("not-it")})
    session = MqttSession(login, "test-wrong-password", 10, 60, lambda: NOW)
    with pytest.raises(BrokerRefused, match="not authorized"):  # how Mosquitto says it
        session.connect(["canteen/+/+/telemetry"])


def test_it_logs_in_over_tls_with_the_private_ca(secured_hub: SecuredHub) -> None:
    hub = secured_hub.hub_login()
    port = secured_hub.broker.tls_port
    assert port is not None
    login = hub.model_copy(
        update={"port": port, "tls": True, "ca_file": str(secured_hub.files.ca_cert)}
    )
    session = MqttSession(login, "test-tls-session", 10, 60, lambda: NOW)
    try:
        assert session.connect(["canteen/+/+/telemetry"]) is False
        assert session.receive(0.2) == []
    finally:
        session.close()


def test_steady_traffic_does_not_hold_a_batch_until_it_is_full(
    session_for: Callable[..., MqttSession], mosquitto: Any
) -> None:
    """Live readings at a steady rate never leave the linger gap: the batch's age ends it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    site = f"session-{next(_ids)}"
    filters = [f"canteen/{site}/+/telemetry"]
    session = session_for(f"test-steady-{site}", receive_maximum=5000)
    session.connect(filters)
    stop = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()

    def publish_steadily() -> None:  # one message every 5 ms, far inside the 50 ms linger
        while not stop.wait(0.005):
            client.publish(f"canteen/{site}/pi-1/telemetry", b"x", qos=1)

    threading.Thread(target=publish_steadily, daemon=True).start()
    try:
        source = BrokerSource(session, filters, threading.Event(), 2000, 10**9, 0.05, "mqtt://t")
        batch = source.collect(5)
        # Closed by its 0.05 s age: some 10 messages; a batch waiting to fill would take
        # 2,000 (ten seconds of this traffic).
        assert 0 < len(batch) < 500
    finally:
        stop.set()
        client.loop_stop()
        client.disconnect()


def test_the_connect_packet_asks_for_a_clean_start_only_when_told() -> None:
    def flags(packet: bytes) -> int:
        return packet[2 + 6 + 1]  # fixed header (2 bytes here), "MQTT", version, flags

    assert flags(connect_packet("ingest", 30, 300, 100, None, None)) == 0x00  # the ingest's
    assert flags(connect_packet("watch", 30, 0, 100, None, None, clean_start=True)) == 0x02
    assert flags(connect_packet("watch", 30, 0, 100, "hub", "pw", clean_start=True)) == 0xC2


def test_a_clean_qos_0_session_watches_and_the_broker_keeps_nothing_for_it(
    mosquitto: Any, publisher: Callable[[str, bytes], None]
) -> None:
    site = f"session-{next(_ids)}"
    filters = [f"canteen/{site}/+/telemetry"]
    settings = MqttSettings.from_url(mosquitto.url)
    client_id = f"test-watcher-{site}"
    persistent = MqttSession(settings, client_id, 10, 300, lambda: NOW)
    assert persistent.connect(filters) is False
    persistent.close()  # the broker keeps this session, with its QoS 1 subscription...
    watcher = MqttSession(settings, client_id, 10, 0, lambda: NOW, clean_start=True, qos=0)
    try:
        assert watcher.connect(filters) is False  # ...until a clean start throws it away
        wait_until(lambda: watcher.receive(0.1) == [] and watcher.subscribed, message="SUBACK")
        publisher(f"canteen/{site}/pi-1/telemetry", b"m1")  # sent at QoS 1
        [message] = receive_all(watcher, 1)
        assert (message.payload, message.qos, message.mid) == (b"m1", 0, 0)  # granted QoS 0
    finally:
        watcher.close()
    publisher(f"canteen/{site}/pi-1/telemetry", b"m2")
    assert persistent.connect(filters) is False, "the watcher's session outlived it"
    try:
        assert receive_all(persistent, 1, timeout=1) == []
    finally:
        persistent.close(send_disconnect=False)
