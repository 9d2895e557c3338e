"""The engine on explicit times: one alert per excursion, restarts, escalation, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.engine import AlertEngine
from alerts.notify import Deliverer
from alerts.policy import DEFAULT_POLICIES
from alerts.rules import RuleBook
from alerts.store import AlertStore
from canteen.cold_units import guess_kind
from protocol import Telemetry, TemperatureReading, parse_topic
from tests.alerts.doubles import SECRET, T0, RecordingSender, channel_settings, utc_midnight

TOPIC = parse_topic("canteen/site-a/node-1/telemetry")
MINUTE = timedelta(minutes=1)


def engine_on(store: AlertStore, sender: RecordingSender, **settings: Any) -> AlertEngine:
    """A fresh engine (new rules, as after a restart) on a store; no escalation unless asked."""
    quiet = {"escalate_after": timedelta(hours=5), "remind_every": timedelta(hours=5)}
    alert_settings = channel_settings(**(quiet | settings))
    rules = RuleBook(lambda _s, _d, sensor: DEFAULT_POLICIES[guess_kind(sensor)], UTC)
    deliverer = Deliverer(alert_settings, store, sender, SECRET, utc_midnight)
    return AlertEngine(alert_settings, rules, store, deliverer)


def reading(engine: AlertEngine, at: datetime, celsius: float) -> None:
    readings = (TemperatureReading(sensor="fridge-1", ts=at, celsius=celsius),)
    engine.telemetry(Telemetry(TOPIC, 1, at, readings, ()), at)


def run(engine: AlertEngine, celsius: float, start: datetime, end: datetime) -> None:
    """A reading and a tick every minute from start to end (inclusive)."""
    now = start
    while now <= end:
        reading(engine, now, celsius)
        engine.tick(now)
        now += MINUTE


def sent(store: AlertStore, alert_id: int) -> list[tuple[str, str, str]]:
    return [(d["role"], d["purpose"], d["status"]) for d in store.deliveries(alert_id)]


def test_readings_that_raise_nothing_still_count_after_a_restart(store: AlertStore) -> None:
    sender = RecordingSender()
    before = engine_on(store, sender)
    run(before, 9.0, T0, T0 + 10 * MINUTE)
    assert store.live() == []

    after = engine_on(store, sender)
    run(after, 9.0, T0 + 11 * MINUTE, T0 + 15 * MINUTE)
    [alert] = store.live()
    assert (alert.severity, alert.since, alert.opened_at) == ("critical", T0, T0 + 15 * MINUTE)
    assert len(sender.sent) == 1


def test_an_open_alert_is_neither_opened_nor_notified_again_after_a_restart(
    store: AlertStore,
) -> None:
    sender = RecordingSender()
    run(engine_on(store, sender), 9.0, T0, T0 + 16 * MINUTE)
    [alert] = store.live()
    run(engine_on(store, sender), 9.5, T0 + 17 * MINUTE, T0 + 25 * MINUTE)
    assert [a.id for a in store.live()] == [alert.id]
    assert sent(store, alert.id) == [("duty", "open", "sent")]
    assert len(sender.sent) == 1


def test_a_warning_that_turns_critical_stays_one_alert(store: AlertStore) -> None:
    sender = RecordingSender()
    engine = engine_on(store, sender)
    run(engine, 6.0, T0, T0 + 30 * MINUTE)
    [alert] = store.live()
    assert alert.severity == "warning"
    run(engine, 9.0, T0 + 31 * MINUTE, T0 + 46 * MINUTE)
    [raised] = store.live()
    assert (raised.id, raised.severity, raised.since) == (alert.id, "critical", T0)
    assert sent(store, alert.id) == [("duty", "open", "sent"), ("duty", "severity", "sent")]
    assert "SEVERITY NOW CRITICAL" in sender.sent[1][1]


def test_escalation_once_and_reminders_every_half_hour_while_unacknowledged(
    store: AlertStore,
) -> None:
    sender = RecordingSender()
    engine = engine_on(store, sender, escalate_after=15 * MINUTE, remind_every=30 * MINUTE)
    run(engine, 10.5, T0, T0 + 14 * MINUTE)  # critical at once: opened at T0
    assert sent(store, store.live()[0].id) == [("duty", "open", "sent")]
    run(engine, 10.5, T0 + 15 * MINUTE, T0 + 70 * MINUTE)
    [alert] = store.live()
    assert alert.escalated_at == T0 + 15 * MINUTE
    assert sent(store, alert.id) == [
        ("duty", "open", "sent"),
        ("manager", "escalation", "sent"),
        ("duty", "reminder", "sent"),
        ("duty", "reminder", "sent"),
    ]
    assert [urls for urls, _, _ in sender.sent][1] == ["json://boss.invalid/m"]
    assert alert.last_reminder_at == T0 + 60 * MINUTE


def test_an_acknowledged_alert_is_neither_escalated_nor_reminded(store: AlertStore) -> None:
    sender = RecordingSender()
    engine = engine_on(store, sender, escalate_after=15 * MINUTE, remind_every=30 * MINUTE)
    run(engine, 10.5, T0, T0 + 5 * MINUTE)
    [alert] = store.live()
    store.acknowledge(alert.id, "li.wei", T0 + 6 * MINUTE)
    run(engine, 10.5, T0 + 7 * MINUTE, T0 + 90 * MINUTE)
    assert sent(store, alert.id) == [("duty", "open", "sent")]
    assert store.get(alert.id).escalated_at is None


def test_a_cleared_critical_alert_out_of_range_again_is_notified_again(
    store: AlertStore,
) -> None:
    sender = RecordingSender()
    engine = engine_on(store, sender)
    run(engine, 10.5, T0, T0 + MINUTE)
    [alert] = store.live()
    run(engine, 3.5, T0 + 2 * MINUTE, T0 + 3 * MINUTE)
    waiting = store.get(alert.id)
    assert waiting.cleared_at == T0 + 2 * MINUTE
    assert waiting.state == "open", "a critical alert waits for its corrective action"

    run(engine, 10.8, T0 + 4 * MINUTE, T0 + 5 * MINUTE)
    again = store.get(alert.id)
    assert [a.id for a in store.live()] == [alert.id]
    assert (again.cleared_at, again.value) == (None, 10.8)
    assert sent(store, alert.id) == [
        ("duty", "open", "sent"),
        ("duty", "resolved", "sent"),
        ("duty", "open", "sent"),
    ]
    store.record_action(alert.id, "li.wei", "moved the stock; called the engineer", T0)
    assert store.get(alert.id).state == "open", "still out of range"
    run(engine, 3.5, T0 + 6 * MINUTE, T0 + 6 * MINUTE)
    assert store.get(alert.id).state == "resolved"


def test_back_to_normal_is_when_the_reading_was_taken_not_when_it_arrived(
    store: AlertStore,
) -> None:
    engine = engine_on(store, RecordingSender())
    run(engine, 6.0, T0, T0 + 31 * MINUTE)
    [alert] = store.live()
    back, arrived = T0 + 40 * MINUTE, T0 + 95 * MINUTE  # replayed from the edge's outbox
    readings = (TemperatureReading(sensor="fridge-1", ts=back, celsius=3.0),)
    engine.telemetry(Telemetry(TOPIC, 2, arrived, readings, ()), arrived)
    cleared = store.get(alert.id)
    assert (cleared.state, cleared.cleared_at) == ("resolved", back)
