"""The broker guard's notices: parsed, traced to a device, raised and cleared as an alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.denials import login_owner, notice_topic, parse_notice
from alerts.kinds import AlertKey, AlertKind, Severity
from alerts.messages import compose
from alerts.policy import DENIED_QUIET
from alerts.rules import RuleBook
from alerts.store import AlertStore
from canteen.provision.registry import device_username
from protocol import Status
from tests.alerts.doubles import StartAlerts
from tests.alerts.test_alert_service import fast_settings
from tests.notify_endpoint import NotificationEndpoint
from tests.waiting import wait_until

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
KEY = AlertKey("site-a", "cold-room", "", AlertKind.PUBLISH_DENIED)


def notice(username: str = "canteen-site-a-cold-room", at: datetime = T0) -> bytes:
    """A notice as the plugin writes it."""
    body: dict[str, Any] = {
        "v": 1,
        "username": username,
        "client_id": "site-a-cold-room",
        "topic": "canteen/site-a/waste-station/telemetry",
        "qos": 1,
        "retain": False,
        "payload_bytes": 120,
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "held": 0,
    }
    return json.dumps(body).encode()


def rulebook() -> RuleBook:
    return RuleBook(lambda *_: pytest.fail("no temperature rule is involved"), UTC)


def test_a_notice_is_read_and_a_bad_one_refused_with_the_reason() -> None:
    parsed = parse_notice(notice())
    assert parsed.username == "canteen-site-a-cold-room"
    assert (parsed.topic, parsed.qos, parsed.at) == (
        "canteen/site-a/waste-station/telemetry",
        1,
        T0,
    )
    with pytest.raises(ValueError, match="username"):
        parse_notice(b'{"v": 1, "topic": "x"}')
    with pytest.raises(ValueError, match="not a guard notice"):
        parse_notice(b"\xff")
    assert notice_topic("canteen") == "canteen/$hub/denied"


def test_a_login_splits_on_the_devices_the_hub_knows_then_its_sites() -> None:
    username = "canteen-site-a-cold-room"
    assert login_owner(username, {("site-a", "cold-room")}) == ("site-a", "cold-room")
    assert login_owner(username, set(), sites={"site-a"}) == ("site-a", "cold-room")
    assert login_owner(username, set()) == ("site", "a-cold-room"), "the first split at worst"
    assert login_owner("hub", set()) is None
    assert login_owner("bridge-site-a", set()) is None
    assert login_owner("canteen-x", set()) is None


slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)


@given(site=slugs, device=slugs)
def test_a_known_device_is_always_found_from_its_login(site: str, device: str) -> None:
    assert login_owner(device_username(site, device), {(site, device)}) == (site, device)


def test_a_refusal_raises_at_once_and_clears_after_a_quiet_spell() -> None:
    rules = rulebook()
    [raised] = rules.publish_denied("site-a", "cold-room", T0)
    assert (raised.key, raised.action, raised.severity, raised.since) == (
        KEY,
        "raise",
        Severity.WARNING,
        T0,
    )
    later = T0 + timedelta(minutes=5)
    assert rules.publish_denied("site-a", "cold-room", later) == [], "one alert, not one a try"
    assert rules.tick(later + DENIED_QUIET - timedelta(seconds=1)) == []
    [cleared] = rules.tick(later + DENIED_QUIET)
    assert (cleared.key, cleared.action) == (KEY, "clear")
    assert rules.raised() == {}
    assert rules.publish_denied("site-a", "cold-room", T0 + timedelta(hours=1)), "a new try"


def test_a_raised_refusal_survives_a_restart() -> None:
    before = rulebook()
    before.publish_denied("site-a", "cold-room", T0)
    after = rulebook()
    after.restore(json.loads(json.dumps(before.state())))
    assert after.raised() == {KEY: Severity.WARNING}
    assert after.publish_denied("site-a", "cold-room", T0 + timedelta(minutes=1)) == []
    assert ("site-a", "cold-room") in after.devices()


def test_the_rules_know_the_devices_that_sent_status() -> None:
    rules = rulebook()
    rules.status("site-a", "waste-station", Status(v=1, online=True), T0)
    assert rules.devices() == {("site-a", "waste-station")}


def test_the_notification_names_the_device(store: AlertStore) -> None:
    alert = store.open(KEY, Severity.WARNING, T0, None, T0)
    title, body = compose(alert, "open", "https://hub/a/x", T0, "en")
    assert title == (
        "[site-a] ALERT: cold-room tried to publish under another device's topics "
        "(refused by the broker)"
    )
    assert "Acknowledge: https://hub/a/x" in body
    title, _ = compose(alert, "open", "https://hub/a/x", T0, "zh-CN")
    assert "cold-room 试图以其他设备的主题发布消息" in title


@pytest.mark.integration
def test_a_notice_on_the_broker_reaches_the_duty_phone(
    start_alerts: StartAlerts,
    publisher: Any,
    endpoint: NotificationEndpoint,
    site: str,
) -> None:
    alerts = start_alerts(fast_settings(site, endpoint))
    username = device_username(site, "cold-room")
    now = datetime.now(UTC)

    def sent() -> list[Any]:  # again until the alert service's session has subscribed
        publisher(notice_topic("canteen"), notice(username, now))
        return alerts.store.live(site)

    [alert] = wait_until(sent, interval=0.5, message="a refused-publish alert")
    assert (alert.key.device, alert.key.kind) == ("cold-room", AlertKind.PUBLISH_DENIED)
    [message] = wait_until(lambda: endpoint.received("duty"), message="the duty notification")
    assert f"[{site}] ALERT: cold-room tried to publish" in message["title"]
