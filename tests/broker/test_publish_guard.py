"""A device publishing under another device's topic: refused, and the hub is told.

Real Mosquitto on broker/mosquitto.conf with the guard plugin built by `scripts/setup.sh
test` (broker/plugin/canteen_guard.c): without it, or with a broken one, these fail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.alert_record import Alert
from alerts.denials import notice_topic
from alerts.kinds import AlertKind
from alerts.rules import RuleBook
from alerts.service import AlertService, day_start_in, policy_lookup
from alerts.settings import AlertSettings
from alerts.store import AlertStore
from canteen.cold_units import guess_kind
from tests.broker.conftest import SecuredHub
from tests.broker.mqtt_probe import NOT_AUTHORIZED, Probe
from tests.notify_endpoint import NotificationEndpoint
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

NOTICES = notice_topic("canteen")
VICTIM_STATUS = "canteen/site-a/waste-station/status"


def _connected(settings: Any, name: str) -> Probe:
    probe = Probe(settings, name)
    reason = probe.connect()
    assert not reason.is_failure, f"{settings.username} was refused: {reason}"
    return probe


def _notices(hub: Probe) -> list[dict[str, Any]]:
    return [json.loads(payload) for payload in hub.received(NOTICES)]


@pytest.fixture
def two_devices(secured_hub: SecuredHub) -> SecuredHub:
    """site-a's cold-room (the offender) and waste-station (the victim)."""
    secured_hub.access.add("site-a", "cold-room", "fridge")
    secured_hub.access.add("site-a", "waste-station", "waste")
    return secured_hub


def test_a_forged_publish_is_refused_and_the_hub_is_told_who_and_where(
    two_devices: SecuredHub,
) -> None:
    hub = _connected(two_devices.hub_login(), "hub")
    victim = _connected(two_devices.device_login("site-a", "waste-station"), "victim")
    # a client id with JSON's special characters: the notice must stay valid JSON
    offender = _connected(two_devices.device_login("site-a", "cold-room"), 'cold"room\\')
    try:
        hub.subscribe("canteen/#")
        assert not victim.publish(VICTIM_STATUS, b'{"v":1,"online":true}', retain=True).is_failure
        wait_until(lambda: hub.received(VICTIM_STATUS), message="the victim's own status")
        forged = b'{"v":1,"online":false}'
        assert offender.publish(VICTIM_STATUS, forged, retain=True).value == NOT_AUTHORIZED
        telemetry = "canteen/site-a/waste-station/telemetry"
        assert offender.publish(telemetry, b"{}").value == NOT_AUTHORIZED

        notices = wait_until(lambda: len(_notices(hub)) == 2 and _notices(hub))
        first, second = notices
        assert first["username"] == "canteen-site-a-cold-room"
        assert first["client_id"].startswith('cold"room\\-')
        assert (first["topic"], first["qos"], first["retain"]) == (VICTIM_STATUS, 1, True)
        assert first["payload_bytes"] == len(forged)
        at = datetime.fromisoformat(first["at"])
        assert abs(datetime.now(UTC) - at) < timedelta(seconds=10)
        assert (second["topic"], second["retain"]) == (telemetry, False)
        # the victim's data is untouched: nothing forged delivered, its retained status kept
        assert hub.received(telemetry) == []
        assert hub.received(VICTIM_STATUS) == [b'{"v":1,"online":true}']
        late = _connected(two_devices.hub_login(), "late")
        try:
            late.subscribe(VICTIM_STATUS)
            wait_until(lambda: late.received(VICTIM_STATUS), message="the retained status")
            assert late.received(VICTIM_STATUS) == [b'{"v":1,"online":true}']
        finally:
            late.close()
    finally:
        for probe in (offender, victim, hub):
            probe.close()
    two_devices.broker.stop()  # Mosquitto's log reaches its file for sure once it exits
    logged = "canteen_guard: denied canteen-site-a-cold-room (client cold"
    assert logged in two_devices.broker.log_path.read_text(), "the broker's warning"


def test_own_topics_raise_no_notice_and_the_acl_file_still_decides(
    two_devices: SecuredHub,
) -> None:
    hub = _connected(two_devices.hub_login(), "hub")
    device = _connected(two_devices.device_login("site-a", "cold-room"), "device")
    try:
        hub.subscribe(NOTICES)
        own = "canteen/site-a/cold-room"
        assert not device.publish(f"{own}/telemetry", b"{}").is_failure
        assert not device.publish(f"{own}/status", b'{"v":1,"online":true}').is_failure
        # its own config: the plugin defers, the ACL file refuses (read-only), no notice
        assert device.publish(f"{own}/config", b"{}").value == NOT_AUTHORIZED
        # the hub is no device: deferred too, and the ACL file lets it push a config
        assert not hub.publish(f"{own}/config", b'{"interval_s": 30}').is_failure
        assert hub.publish(f"{own}/telemetry", b"{}").value == NOT_AUTHORIZED
        # a forged publish last: its notice is the first and only one
        assert (
            device.publish("canteen/site-a/waste-station/telemetry", b"{}").value == NOT_AUTHORIZED
        )
        wait_until(lambda: _notices(hub), message="the marker's notice")
        assert [n["topic"] for n in _notices(hub)] == ["canteen/site-a/waste-station/telemetry"]
    finally:
        device.close()
        hub.close()


def test_no_device_can_read_the_notices(two_devices: SecuredHub) -> None:
    hub = _connected(two_devices.hub_login(), "hub")
    reader = _connected(two_devices.device_login("site-a", "waste-station"), "reader")
    offender = _connected(two_devices.device_login("site-a", "cold-room"), "offender")
    try:
        hub.subscribe(NOTICES)
        reader.subscribe("canteen/#", NOTICES)
        assert (
            offender.publish("canteen/site-a/waste-station/status", b"{}").value == NOT_AUTHORIZED
        )
        wait_until(lambda: _notices(hub), message="the hub's notice")
        # delivered after the notice: once it arrives, the notice would have too
        config = "canteen/site-a/waste-station/config"
        assert not hub.publish(config, b'{"interval_s": 30}').is_failure
        wait_until(lambda: reader.received(config), message="the reader's own config")
        assert reader.received(NOTICES) == []
    finally:
        for probe in (offender, reader, hub):
            probe.close()


def test_a_flood_of_forged_publishes_sends_at_most_20_notices_a_second(
    two_devices: SecuredHub,
) -> None:
    hub = _connected(two_devices.hub_login(), "hub")
    offender = _connected(two_devices.device_login("site-a", "cold-room"), "offender")
    forged = "canteen/site-a/waste-station/telemetry"
    try:
        hub.subscribe(NOTICES)
        attempts = 45
        # sent at once, not one PUBACK at a time: well under a second, two windows at most
        sent = [offender.client.publish(forged, b"{}", qos=1) for _ in range(attempts)]
        wait_until(
            lambda: all(offender.pubacks.get(info.mid) for info in sent), message="every PUBACK"
        )
        answers = [offender.pubacks[info.mid] for info in sent]
        assert all(answer.value == NOT_AUTHORIZED for answer in answers)

        def all_accounted() -> bool:
            # each try is either a notice or counted in a later notice's `held`; a try
            # after the window has passed is sent, with the count of those held before it
            nonlocal attempts
            notices = _notices(hub)
            if len(notices) + sum(n["held"] for n in notices) == attempts:
                return True
            attempts += 1
            offender.publish(forged, b"{}")
            return False

        wait_until(all_accounted, interval=0.3, message="every try sent or counted")
        assert sum(n["held"] for n in _notices(hub)) >= 45 - 2 * 20
    finally:
        offender.close()
        hub.close()


def test_the_alert_service_tells_the_duty_phone(two_devices: SecuredHub, tmp_path: Path) -> None:
    endpoint = NotificationEndpoint().start()
    settings = AlertSettings(
        channels={"site-a": {"duty": [endpoint.url("duty")], "manager": [endpoint.url("boss")]}},
        tick_s=0.2,
    )
    service = AlertService(
        settings,
        two_devices.hub_login(),
        AlertStore(tmp_path / "alerts.sqlite3"),
        RuleBook(policy_lookup(settings, guess_kind), UTC),
        b"0123456789abcdef0123456789abcdef",
        day_start_in(UTC),
    )
    service.start()
    offender = _connected(two_devices.device_login("site-a", "cold-room"), "offender")
    try:
        assert service.subscribed.wait(10)

        def forge() -> list[Alert]:  # again until the alert service has subscribed
            offender.publish("canteen/site-a/waste-station/telemetry", b"{}")
            return service.store.live("site-a")

        wait_until(forge, interval=0.5, message="a refused-publish alert")
        (alert,) = service.store.live("site-a")
        assert (alert.key.device, alert.key.kind) == ("cold-room", AlertKind.PUBLISH_DENIED)
        sent = wait_until(lambda: endpoint.received("duty"), message="the duty notification")
        assert (
            "[site-a] ALERT: cold-room tried to publish under another device's"
            in (sent[0]["title"])
        )
    finally:
        offender.close()
        service.stop()
        service.store.close()
        endpoint.close()
