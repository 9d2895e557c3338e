"""A restart hours after the last run: silence and offline count from the start, delays not."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.kinds import AlertKind
from alerts.policy import UnitPolicy
from alerts.rules import RuleBook
from alerts.store import AlertStore
from protocol import (
    Channel,
    Status,
    TemperatureReading,
    device_topic,
    encode_status,
    format_ts,
    last_will,
    parse_ts,
)
from tests.alerts.doubles import FridgeNode, RecordingSender, StartAlerts
from tests.alerts.test_alert_service import every_alert, fast_settings
from tests.alerts.test_engine import engine_on, reading
from tests.alerts.test_rules import (
    DEVICE,
    SITE,
    T0,
    door,
    key,
    minutes,
    rulebook,
    summary,
    temperature,
)
from tests.notify_endpoint import NotificationEndpoint
from tests.waiting import wait_until

LATER = T0 + timedelta(hours=3)  # the hub was down for three hours
SECOND = timedelta(seconds=1)
OFFLINE, ONLINE = Status(v=1, online=False), Status(v=1, online=True)


def restarted(before: RuleBook) -> RuleBook:
    """A new rule book with what `before` saved, as the next run takes it from SQLite."""
    after = rulebook()
    after.restore(json.loads(before.state_json()))
    return after


def stopped_at_t0() -> RuleBook:
    """node-1's fridge-1 heard at 3 °C, then the hub stops and node-1's last will arrives."""
    rules = rulebook()
    temperature(rules, "fridge-1", T0, 3.0)
    rules.status(SITE, DEVICE, OFFLINE, minutes(1))
    return rules


def test_devices_that_speak_within_a_second_of_a_restart_hours_later_raise_nothing() -> None:
    rules = restarted(stopped_at_t0())
    assert rules.tick(LATER) == [], "not listening yet: nothing heard, nothing judged"
    rules.listening(LATER)
    changes = rules.tick(LATER)
    changes += rules.status(SITE, DEVICE, OFFLINE, LATER + 0.1 * SECOND)  # the retained will
    changes += rules.tick(LATER + 0.2 * SECOND)
    changes += rules.status(SITE, DEVICE, ONLINE, LATER + 0.5 * SECOND)  # the device's birth
    changes += rules.tick(LATER + 0.6 * SECOND)
    for n in range(0, 60, 5):  # the probe from its first second on, every 5 s
        at = LATER + (0.9 + n) * SECOND
        changes += temperature(rules, "fridge-1", at, 3.0) + rules.tick(at)
    assert changes == []
    assert rules.raised() == {}


def test_a_probe_and_a_device_silent_after_a_restart_raise_once_their_windows_have_passed() -> None:
    before = stopped_at_t0()
    temperature(before, "fridge-2", T0, 3.0)
    before.readings(
        SITE, "node-2", (TemperatureReading(sensor="fridge-3", ts=T0, celsius=3.0),), T0, T0
    )
    before.status(SITE, "node-2", OFFLINE, minutes(1))
    rules = restarted(before)
    rules.listening(LATER)
    rules.status(SITE, DEVICE, ONLINE, LATER + SECOND)  # node-1 is back; its fridge-1 is not
    temperature(rules, "fridge-2", LATER + SECOND, 3.0)
    assert rules.tick(LATER + timedelta(minutes=4.9)) == []
    assert summary(rules.tick(LATER + timedelta(minutes=5))) == [
        ("raise", "device_offline", "", "warning", minutes(1))
    ], "node-2 stayed offline: its last will counts from the start, and says since when"
    temperature(rules, "fridge-2", LATER + timedelta(minutes=20), 3.0)
    assert rules.tick(LATER + timedelta(minutes=29.9)) == []
    assert summary(rules.tick(LATER + timedelta(minutes=30))) == [
        ("raise", "sensor_silent", "fridge-1", "warning", T0)
    ], "fridge-1's 30 minutes count from the start; the alert says when it was last heard"
    assert rules.tick(LATER + timedelta(minutes=45)) == [], "node-2 is offline, not its probe"


def test_an_excursion_and_an_open_door_from_before_a_restart_keep_their_start() -> None:
    before = rulebook()
    temperature(before, "fridge-1", T0, 9.0)
    door(before, "fridge-1", minutes(9), True)
    temperature(before, "fridge-1", minutes(10), 9.0)
    rules = restarted(before)
    rules.listening(minutes(12))
    temperature(rules, "fridge-1", minutes(12) + SECOND, 9.0)
    assert rules.tick(minutes(13.9)) == []
    assert summary(rules.tick(minutes(14))) == [
        ("raise", "door_open", "fridge-1", "warning", minutes(9))
    ]
    assert summary(rules.tick(minutes(15))) == [
        ("raise", "temperature", "fridge-1", "critical", T0)
    ], "the 12 minutes before the restart count towards the 15"


def test_a_silence_raised_before_a_restart_stays_raised_and_its_next_reading_clears_it() -> None:
    before = rulebook()
    temperature(before, "fridge-1", T0, 3.0)
    assert summary(before.tick(minutes(30)))[0][:2] == ("raise", "sensor_silent")
    rules = restarted(before)
    assert rules.raised() == {key("fridge-1", AlertKind.SENSOR_SILENT): "warning"}
    rules.listening(LATER)
    assert rules.tick(LATER + timedelta(minutes=31)) == [], "not raised (nor notified) twice"
    assert summary(temperature(rules, "fridge-1", LATER + timedelta(minutes=32), 3.0)) == [
        ("clear", "sensor_silent", "fridge-1", "warning", LATER + timedelta(minutes=32))
    ]


def test_the_engine_opens_and_notifies_nothing_when_devices_speak_at_once(
    store: AlertStore,
) -> None:
    sender = RecordingSender()
    before = engine_on(store, sender)
    reading(before, T0, 3.0)
    before.status(SITE, DEVICE, OFFLINE, minutes(1))
    before.tick(minutes(1))

    after = engine_on(store, sender)  # three hours later
    after.tick(LATER)
    after.listening(LATER)
    after.tick(LATER)
    after.status(SITE, DEVICE, ONLINE, LATER + 0.5 * SECOND)
    after.tick(LATER + 0.6 * SECOND)
    reading(after, LATER + 0.9 * SECOND, 3.0)
    after.tick(LATER + SECOND)
    assert store.live() == []
    assert sender.sent == []


# --- the alert service against a real broker --------------------------------------------


def saved_hours_ago(db: Path, site: str, offline: bool) -> datetime:
    """Leave in `db` the memory of a run that heard fridge-1 three hours ago; that time."""
    heard = parse_ts(
        format_ts(datetime.now(UTC) - timedelta(hours=3))
    )  # milliseconds, as on the wire
    rules = RuleBook(lambda *_: UnitPolicy(warning_c=5.0, critical_c=8.0), UTC)
    rules.readings(
        site,
        "node-1",
        (TemperatureReading(sensor="fridge-1", ts=heard, celsius=3.0),),
        heard,
        heard,
    )
    if offline:
        rules.status(site, "node-1", OFFLINE, heard)
    store = AlertStore(db)
    try:
        store.save_rule_state_json(rules.state_json())
    finally:
        store.close()
    return heard


@pytest.mark.integration
def test_a_service_restarted_hours_later_raises_nothing_when_the_node_speaks_at_once(
    start_alerts: StartAlerts,
    endpoint: NotificationEndpoint,
    fridge: FridgeNode,
    publisher: Callable[..., None],
    site: str,
    tmp_path: Path,
) -> None:
    saved_hours_ago(tmp_path / "alerts.sqlite3", site, offline=True)
    status = device_topic(site, "node-1", Channel.STATUS)
    publisher(status, last_will(), retain=True)  # as the broker kept it since the stop
    try:
        alerts = start_alerts(fast_settings(site, endpoint))
        publisher(status, encode_status(ONLINE), retain=True)
        with fridge.keep_sending(3.0):
            wait_until(lambda: fridge.last_ts, message="a first reading")

            def saved_fresh() -> bool:  # the tick after the reading saved it
                saved = alerts.on_engine(lambda engine: engine.store.rule_state())
                seen = saved[f"{site}/node-1/fridge-1/sensor_silent"]["last_seen"]
                return datetime.fromisoformat(seen) > datetime.now(UTC) - timedelta(minutes=1)

            wait_until(saved_fresh, timeout=15, message="a tick after the first reading")
        assert every_alert(alerts, site) == []
        assert endpoint.received("duty") == []
    finally:
        publisher(status, b"", retain=True)


@pytest.mark.integration
def test_a_probe_still_silent_after_a_restart_raises_once_its_window_has_passed_since_the_start(
    start_alerts: StartAlerts, endpoint: NotificationEndpoint, site: str, tmp_path: Path
) -> None:
    window = timedelta(seconds=2)
    heard = saved_hours_ago(tmp_path / "alerts.sqlite3", site, offline=False)
    policy = UnitPolicy(warning_c=5.0, critical_c=8.0, silent_after=window)
    started = datetime.now(UTC)
    alerts = start_alerts(fast_settings(site, endpoint, units={"fridge-1": policy}))
    [alert] = wait_until(lambda: alerts.store.live(site), timeout=15, message="a silence alert")
    assert alert.key.kind is AlertKind.SENSOR_SILENT
    assert alert.since == heard, "the alert says when the probe was last heard"
    assert alert.opened_at - started >= window, "its window counts from the start"
    wait_until(lambda: endpoint.received("duty"), message="the duty notification")
