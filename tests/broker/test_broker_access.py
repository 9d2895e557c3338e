"""The hub's broker lets in only provisioned devices, each under its own topics.

Real Mosquitto running broker/mosquitto.conf (ports and paths moved to a temporary
folder) with the files `canteen broker init` and `canteen device add` write.
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from canteen.provision.mosquitto_conf import listeners
from canteen.settings import MqttSettings
from tests.broker.conftest import SecuredHub
from tests.broker.mqtt_probe import NOT_AUTHORIZED, Probe, connack_of
from tests.waiting import wait_until

PRODUCTION_CONF = Path(__file__).resolve().parents[2] / "broker" / "mosquitto.conf"
pytestmark = pytest.mark.integration


def _telemetry(seq: int) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    reading = {"kind": "temperature", "sensor": "fridge-1", "ts": now, "celsius": 3.5}
    return json.dumps({"v": 1, "seq": seq, "sent": now, "readings": [reading]}).encode()


def _connected(settings: MqttSettings, name: str) -> Probe:
    probe = Probe(settings, name)
    reason = probe.connect()
    assert not reason.is_failure, f"{settings.username} was refused: {reason}"
    return probe


def test_plain_tcp_is_only_on_loopback_in_the_production_config() -> None:
    found = listeners(PRODUCTION_CONF.read_text(encoding="utf-8"))
    assert [listener for listener in found if listener.tls] != []
    plain = [listener for listener in found if not listener.tls]
    assert plain, "the hub's own processes need the loopback listener"
    assert all(listener.address in ("127.0.0.1", "::1", "localhost") for listener in plain)
    directives = [line.split() for line in PRODUCTION_CONF.read_text().splitlines()]
    assert ["allow_anonymous", "false"] in directives
    assert ["allow_anonymous", "true"] not in directives


def test_anonymous_clients_are_refused_on_both_listeners(secured_hub: SecuredHub) -> None:
    broker = secured_hub.broker
    assert broker.tls_port is not None
    plain = MqttSettings(host=broker.host, port=broker.port)
    tls = MqttSettings(
        host=broker.host, port=broker.tls_port, tls=True, ca_file=str(secured_hub.files.ca_cert)
    )
    for settings in (plain, tls):
        assert connack_of(settings).is_failure


def test_a_wrong_password_is_refused(secured_hub: SecuredHub) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    login = secured_hub.device_login("site-a", "cold-room")
    wrong = login.model_copy(update={"password": SecretStr("not-the-password")})
    assert connack_of(wrong).is_failure
    assert not connack_of(login).is_failure


def test_the_tls_listener_is_verified_with_the_private_ca_only(secured_hub: SecuredHub) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    login = secured_hub.device_login("site-a", "cold-room")
    system_cas = login.model_copy(update={"ca_file": None})  # the machine's public CAs
    with pytest.raises(ssl.SSLCertVerificationError):
        connack_of(system_cas)


def test_a_device_publishes_its_telemetry_and_the_hub_receives_it(
    secured_hub: SecuredHub,
) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    hub = _connected(secured_hub.hub_login(), "hub")
    device = _connected(secured_hub.device_login("site-a", "cold-room"), "device")
    try:
        assert device.settings.tls and device.settings.port == secured_hub.broker.tls_port
        assert not any(r.is_failure for r in hub.subscribe("canteen/#"))
        topic = "canteen/site-a/cold-room/telemetry"
        assert not device.publish(topic, _telemetry(1)).is_failure
        status = device.publish("canteen/site-a/cold-room/status", b'{"v":1,"online":true}')
        assert not status.is_failure
        wait_until(lambda: hub.received(topic), message="the hub to get the telemetry")
    finally:
        device.close()
        hub.close()


def test_a_device_cannot_publish_under_another_devices_topics(secured_hub: SecuredHub) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    secured_hub.access.add("site-a", "waste-station", "waste")
    hub = _connected(secured_hub.hub_login(), "hub")
    device = _connected(secured_hub.device_login("site-a", "cold-room"), "device")
    try:
        hub.subscribe("canteen/#")
        forged = [
            "canteen/site-a/waste-station/telemetry",
            "canteen/site-a/waste-station/status",
            "canteen/site-b/cold-room/telemetry",
            "canteen/site-a/waste-station/config",
        ]
        for topic in forged:
            assert device.publish(topic, _telemetry(7)).value == NOT_AUTHORIZED, topic
        # a message it may send afterwards arrives: the forged ones, sent before, never do
        own = "canteen/site-a/cold-room/telemetry"
        assert not device.publish(own, _telemetry(8)).is_failure
        wait_until(lambda: hub.received(own), message="the device's own telemetry")
        assert all(hub.received(topic) == [] for topic in forged)
    finally:
        device.close()
        hub.close()


def test_a_device_reads_its_own_config_and_no_other(secured_hub: SecuredHub) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    secured_hub.access.add("site-a", "waste-station", "waste")
    hub = _connected(secured_hub.hub_login(), "hub")
    own, other = "canteen/site-a/cold-room/config", "canteen/site-a/waste-station/config"
    for topic in (own, other):  # the hub may push any device's config, retained
        assert not hub.publish(topic, b'{"interval_s": 30}', retain=True).is_failure
    device = _connected(secured_hub.device_login("site-a", "cold-room"), "device")
    try:
        # Mosquitto grants every subscription and applies `topic read` to each delivery,
        # so the proof is what arrives, not the SUBACK.
        device.subscribe(own, other, "canteen/#")
        wait_until(lambda: device.received(own), message="the device's own retained config")
        assert not hub.publish(other, b'{"interval_s": 60}', retain=True).is_failure
        assert not hub.publish(own, b'{"interval_s": 45}', retain=True).is_failure
        update = b'{"interval_s": 45}'
        wait_until(lambda: update in device.received(own), message="the config update")
        assert device.received(other) == []
    finally:
        device.close()
        hub.close()


def test_rotate_locks_out_the_old_password_after_the_reload(secured_hub: SecuredHub) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    old = secured_hub.device_login("site-a", "cold-room")
    assert not connack_of(old).is_failure
    outcome = secured_hub.access.rotate("site-a", "cold-room")
    assert outcome.reload.done, outcome.reload.message
    new = secured_hub.device_login("site-a", "cold-room")
    assert new.password != old.password
    secured_hub.wait_login(old, accepted=False)
    assert not connack_of(new).is_failure


def test_revoke_locks_the_device_out_and_drops_its_connection(secured_hub: SecuredHub) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge")
    login = secured_hub.device_login("site-a", "cold-room")
    # revoking deletes the bundle, its ca.crt too: verify with the hub's copy of the CA
    login = login.model_copy(update={"ca_file": str(secured_hub.files.ca_cert)})
    device = _connected(login, "device")
    try:
        outcome = secured_hub.access.revoke("site-a", "cold-room")
        assert outcome.reload.done, outcome.reload.message
        secured_hub.wait_login(login, accepted=False)
        assert device.disconnected.wait(10), "a revoked device stayed connected"
        assert not secured_hub.files.bundle("site-a", "cold-room").exists()
    finally:
        device.close()


def test_a_device_added_while_the_broker_runs_logs_in_after_the_reload(
    secured_hub: SecuredHub,
) -> None:
    outcome = secured_hub.access.add("site-b", "entrance", "entrance")
    assert outcome.reload.done, outcome.reload.message
    secured_hub.wait_login(secured_hub.device_login("site-b", "entrance"), accepted=True)
