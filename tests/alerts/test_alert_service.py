"""The alert service end to end: real broker, real Apprise, a local notification endpoint."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.alert_record import Alert
from alerts.policy import UnitPolicy
from alerts.settings import AlertSettings
from tests.alerts.doubles import FridgeNode, RunningAlerts, StartAlerts
from tests.notify_endpoint import NotificationEndpoint
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

TICK_S = 0.2
DELAY = timedelta(seconds=2)
SOON = timedelta(hours=1)  # far beyond any test: no escalation or reminder unless asked


def fast_settings(site: str, endpoint: NotificationEndpoint, **overrides: Any) -> AlertSettings:
    """Rules for fridge-1 that take seconds, not minutes, and this site's two endpoints.

    `overrides` may change the unit's delays (warning_delay, critical_delay,
    door_open_limit) as well as any alert setting.
    """
    delays = {
        name: overrides.pop(name, DELAY)
        for name in ("warning_delay", "critical_delay", "door_open_limit")
    }
    policy = UnitPolicy(warning_c=5.0, critical_c=8.0, immediate_c=None, **delays)
    values: dict[str, Any] = {
        "channels": {site: {"duty": [endpoint.url("duty")], "manager": [endpoint.url("manager")]}},
        "units": {"fridge-1": policy},
        "tick_s": TICK_S,
        "escalate_after": SOON,
        "remind_every": SOON,
        "first_retry": timedelta(seconds=0.3),
    }
    return AlertSettings(**(values | overrides))


def every_alert(alerts: RunningAlerts, site: str) -> list[Alert]:
    """Every alert of a site, resolved or not."""
    now = datetime.now(UTC)
    return alerts.store.between(site, now - timedelta(days=1), now + timedelta(days=1))


def one_live(alerts: RunningAlerts, site: str) -> Alert | None:
    live = alerts.store.live(site)
    assert len(live) <= 1, f"more than one alert: {live}"
    return live[0] if live else None


def an_alert(alerts: RunningAlerts, site: str) -> Alert:
    """Wait for the site's one alert to open."""
    alert = wait_until(lambda: one_live(alerts, site), message=f"an alert at {site}")
    assert alert is not None
    return alert


def caught_up(alerts: RunningAlerts, node: FridgeNode, past: datetime) -> None:
    """Wait until the service has taken in a reading stamped at `past` or later.

    Its worker ticks every TICK_S and delivers after each tick, so whatever was due by
    `past` has been raised and sent by then.
    """
    wait_until(
        lambda: (node.seen_by(alerts) or past - timedelta(1)) >= past,
        timeout=15,
        message=f"the alert service to take in readings up to {past}",
    )


def test_an_excursion_opens_one_alert_and_sends_one_notification(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, fridge: FridgeNode, site: str
) -> None:
    alerts = start_alerts(fast_settings(site, endpoint))
    with fridge.keep_sending(9.0):
        alert = an_alert(alerts, site)
        [notice] = wait_until(lambda: endpoint.received("duty"), message="the open notice")
        caught_up(alerts, fridge, datetime.now(UTC) + 4 * timedelta(seconds=TICK_S))

    assert alert.key.sensor == "fridge-1"
    assert alert.severity == "critical"
    assert alert.since == fridge.first_ts
    assert alert.opened_at - alert.since >= DELAY
    assert [a.id for a in every_alert(alerts, site)] == [alert.id]
    assert endpoint.received("duty") == [notice], "one notification, not one a tick"
    assert endpoint.attempts("manager") == []
    assert f"[{site}] ALERT: fridge-1 is at 9.0 °C (critical)" in notice["title"]
    assert "Acknowledge: http://127.0.0.1:8080/a/" in notice["message"]
    assert alerts.store.get(alert.id).delivery == "delivered"


def test_a_door_open_spike_shorter_than_the_delay_raises_nothing(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, fridge: FridgeNode, site: str
) -> None:
    delay = timedelta(seconds=4)
    alerts = start_alerts(
        fast_settings(
            site, endpoint, warning_delay=delay, critical_delay=delay, door_open_limit=delay
        )
    )
    fridge.send(3.5, door_open=False)
    spike = fridge.send(9.5, door_open=True)
    caught_up(alerts, fridge, spike)
    closed = fridge.send(4.0, door_open=False)
    assert closed - spike < delay, "the machine is too slow for this test's spike"
    with fridge.keep_sending(3.8):
        caught_up(alerts, fridge, spike + delay + 3 * timedelta(seconds=TICK_S))

    assert every_alert(alerts, site) == []
    assert endpoint.requests == []


def test_recovery_resolves_a_warning_and_sends_a_notice(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, fridge: FridgeNode, site: str
) -> None:
    alerts = start_alerts(fast_settings(site, endpoint))
    with fridge.keep_sending(6.5):
        alert = an_alert(alerts, site)
        wait_until(lambda: endpoint.received("duty"), message="the open notice")
    assert alert.severity == "warning"
    with fridge.keep_sending(3.9):
        wait_until(
            lambda: alerts.store.get(alert.id).state == "resolved", message="the alert resolved"
        )
        opened, resolved = wait_until(
            lambda: endpoint.received("duty")[1:] and endpoint.received("duty"),
            message="the resolution notice",
        )
    assert "ALERT" in opened["title"]
    assert f"[{site}] RESOLVED: fridge-1" in resolved["title"]
    done = alerts.store.get(alert.id)
    assert (done.resolved_by, done.cleared_at is not None) == ("rules", True)
    assert [(d["purpose"], d["status"]) for d in alerts.store.deliveries(alert.id)] == [
        ("open", "sent"),
        ("resolved", "sent"),
    ]


def test_an_alert_nobody_acknowledges_is_escalated_to_the_manager(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, fridge: FridgeNode, site: str
) -> None:
    alerts = start_alerts(fast_settings(site, endpoint, escalate_after=timedelta(seconds=2)))
    with fridge.keep_sending(9.0):
        alert = an_alert(alerts, site)
        [escalation] = wait_until(
            lambda: endpoint.received("manager"), timeout=15, message="the escalation"
        )
    assert f"[{site}] NOT ACKNOWLEDGED, ESCALATED: fridge-1" in escalation["title"]
    assert len(endpoint.received("duty")) == 1
    escalated = alerts.store.get(alert.id)
    assert escalated.escalated_at is not None
    assert escalated.escalated_at - escalated.opened_at >= timedelta(seconds=2)


def test_an_acknowledged_alert_is_not_escalated(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, fridge: FridgeNode, site: str
) -> None:
    escalate_after = timedelta(seconds=3)
    alerts = start_alerts(fast_settings(site, endpoint, escalate_after=escalate_after))
    with fridge.keep_sending(9.0):
        alert = an_alert(alerts, site)
        seen = alerts.on_engine(
            lambda engine: engine.store.acknowledge(alert.id, "li.wei", datetime.now(UTC))
        )
        assert seen.state == "acknowledged"
        caught_up(alerts, fridge, alert.opened_at + escalate_after + 3 * timedelta(seconds=TICK_S))

    assert endpoint.attempts("manager") == []
    assert [d["purpose"] for d in alerts.store.deliveries(alert.id)] == ["open"]
    assert alerts.store.get(alert.id).escalated_at is None


def test_a_hub_restart_mid_excursion_counts_the_time_before_it(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, fridge: FridgeNode, site: str
) -> None:
    delay = timedelta(seconds=3)
    settings = fast_settings(site, endpoint, warning_delay=delay, critical_delay=delay)
    client_id = f"hub-{site}"
    first = start_alerts(settings, client_id=client_id)
    with fridge.keep_sending(9.0):
        wait_until(lambda: fridge.first_ts, message="a first reading")
        assert fridge.first_ts is not None
        caught_up(first, fridge, fridge.first_ts + timedelta(seconds=1))
        assert every_alert(first, site) == [], "stopped before the delay was over"
        first.stop()

        second = start_alerts(settings, client_id=client_id)
        alert = an_alert(second, site)
        wait_until(lambda: endpoint.received("duty"), message="the open notice")
        caught_up(second, fridge, datetime.now(UTC) + 4 * timedelta(seconds=TICK_S))

    assert alert.since == fridge.first_ts, "the excursion began before the restart"
    assert alert.opened_at - alert.since < delay + timedelta(seconds=2), (
        "the delay was not started again after the restart"
    )
    assert alert.severity == "critical"
    assert [a.id for a in every_alert(second, site)] == [alert.id]
    assert len(endpoint.received("duty")) == 1
    assert [d["purpose"] for d in second.store.deliveries(alert.id)] == ["open"]


def test_a_notification_answered_500_is_retried_until_delivered(
    start_alerts: StartAlerts, fridge: FridgeNode, site: str
) -> None:
    endpoint = NotificationEndpoint(failures=2).start()
    try:
        alerts = start_alerts(fast_settings(site, endpoint))
        with fridge.keep_sending(9.0):
            alert = an_alert(alerts, site)
            wait_until(
                lambda: alerts.store.get(alert.id).delivery == "delivered",
                timeout=15,
                message="the notification delivered",
            )
    finally:
        endpoint.close()
    assert endpoint.attempts("duty") == [500, 500, 200]
    [delivery] = alerts.store.deliveries(alert.id)
    assert (delivery["status"], delivery["attempts"]) == ("sent", 3)


def test_a_notification_answered_500_every_time_is_failed_after_max_attempts(
    start_alerts: StartAlerts, fridge: FridgeNode, site: str
) -> None:
    endpoint = NotificationEndpoint(failures=1000).start()
    try:
        alerts = start_alerts(fast_settings(site, endpoint, max_attempts=3))
        with fridge.keep_sending(9.0):
            alert = an_alert(alerts, site)
            wait_until(
                lambda: alerts.store.get(alert.id).delivery == "failed",
                timeout=15,
                message="the notification failed",
            )
    finally:
        endpoint.close()
    assert endpoint.attempts("duty") == [500, 500, 500]
    [delivery] = alerts.store.deliveries(alert.id)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert delivery["error"]


def test_a_reading_not_judged_before_a_stop_is_judged_after_the_restart(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, fridge: FridgeNode, site: str
) -> None:
    settings = fast_settings(site, endpoint)
    client_id = f"hub-{site}"
    first = start_alerts(settings, client_id=client_id)
    service = first.service

    # White box: hold the worker until stop() is under way, so a reading published now
    # is never judged (nor acknowledged) by this service: the broker must send it again.
    held = threading.Event()

    def hold(_engine: object) -> None:
        held.set()
        service._stop.wait(10)

    service.submit(hold)
    assert held.wait(10), "the worker did not run the submitted call"
    stamped = fridge.send(9.0)
    first.stop()

    second = start_alerts(settings, client_id=client_id)
    wait_until(
        lambda: fridge.seen_by(second) == stamped,
        timeout=15,
        message="the reading sent again by the broker and judged after the restart",
    )
