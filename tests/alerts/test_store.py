"""The alert store: schema migrations, one live alert per key, the lifecycle, the audit."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.kinds import AlertKey, AlertKind, Severity
from alerts.store import MIGRATIONS, AlertError, AlertStore
from tests.alerts.doubles import FRIDGE, T0

LATER = T0 + timedelta(minutes=20)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def test_migrations_create_the_schema_once(tmp_path: Path) -> None:
    path = tmp_path / "hub" / "alerts.sqlite3"
    first = AlertStore(path)
    assert first.schema_version == len(MIGRATIONS)
    assert {"alerts", "audit", "deliveries", "rule_state", "alert_schema"} <= tables(path)
    alert = first.open(FRIDGE, Severity.WARNING, T0, 6.1, T0)
    first.close()

    again = AlertStore(path)  # would fail on CREATE TABLE if a migration ran twice
    assert again.schema_version == len(MIGRATIONS)
    with sqlite3.connect(path) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM alert_schema ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert again.get(alert.id).value == 6.1, "the records survive a reopen"
    again.close()


def test_only_one_unresolved_alert_per_key(store: AlertStore) -> None:
    first = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)
    with pytest.raises(sqlite3.IntegrityError):
        store.open(FRIDGE, Severity.CRITICAL, T0, 9.0, LATER)
    other = AlertKey("site-a", "node-1", "fridge-1", AlertKind.DOOR_OPEN)
    door = store.open(other, Severity.WARNING, T0, None, T0)
    assert [a.id for a in store.live("site-a")] == [door.id, first.id]
    assert store.live_for(FRIDGE) == first

    store.clear(first.id, LATER)
    assert store.live_for(FRIDGE) is None
    second = store.open(FRIDGE, Severity.WARNING, LATER, 6.5, LATER)
    assert second.id != first.id, "a resolved alert's key may open a new one"
    assert store.live_for(FRIDGE) == second


def test_an_alert_is_open_then_acknowledged_then_resolved(store: AlertStore) -> None:
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0 + timedelta(minutes=30))
    assert (alert.state, alert.since, alert.opened_at) == (
        "open",
        T0,
        T0 + timedelta(minutes=30),
    )
    seen = store.acknowledge(alert.id, "li.wei", T0 + timedelta(minutes=33))
    assert seen.state == "acknowledged"
    assert (seen.acknowledged_by, seen.acknowledged_at) == ("li.wei", T0 + timedelta(minutes=33))
    with pytest.raises(AlertError, match="acknowledged, not open"):
        store.acknowledge(alert.id, "wang.fang", T0 + timedelta(minutes=34))

    done = store.clear(alert.id, T0 + timedelta(minutes=40))
    assert done.state == "resolved"
    assert (done.resolved_by, done.resolved_at) == ("rules", T0 + timedelta(minutes=40))
    assert done.cleared_at == T0 + timedelta(minutes=40)
    assert store.live() == []
    with pytest.raises(AlertError, match="already resolved"):
        store.close_by_hand(alert.id, "li.wei", T0 + timedelta(minutes=41))


def test_a_warning_can_be_closed_by_hand(store: AlertStore) -> None:
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)
    closed = store.close_by_hand(alert.id, "li.wei", LATER)
    assert (closed.state, closed.resolved_by, closed.resolved_at) == ("resolved", "li.wei", LATER)


def test_a_critical_alert_is_not_closed_without_a_corrective_action(store: AlertStore) -> None:
    alert = store.open(FRIDGE, Severity.CRITICAL, T0, 9.4, T0)
    assert alert.needs_action
    with pytest.raises(AlertError, match="corrective action"):
        store.close_by_hand(alert.id, "li.wei", LATER)
    assert store.get(alert.id).state == "open"

    cleared = store.clear(alert.id, LATER)
    assert cleared.cleared_at == LATER
    assert cleared.state == "open", "back in range, but what was done is not recorded yet"
    assert store.live_for(FRIDGE) == cleared

    with pytest.raises(AlertError, match="what was done"):
        store.record_action(alert.id, "li.wei", "   ", LATER)
    text = "moved the stock to fridge-2, discarded the cooked rice"
    done = store.record_action(alert.id, "li.wei", f" {text} ", LATER + timedelta(minutes=5))
    assert done.state == "resolved"
    assert (done.corrective_action, done.resolved_by) == (text, "li.wei")
    assert done.resolved_at == LATER + timedelta(minutes=5)
    assert not done.needs_action


def test_a_critical_alert_with_its_action_resolves_when_it_clears(store: AlertStore) -> None:
    alert = store.open(FRIDGE, Severity.CRITICAL, T0, 11.0, T0)
    acted = store.record_action(alert.id, "li.wei", "door was left open; closed it", LATER)
    assert acted.state == "open", "the unit is still out of range"
    done = store.clear(alert.id, LATER + timedelta(minutes=10))
    assert (done.state, done.resolved_by) == ("resolved", "rules")


def test_a_warning_raised_to_critical_needs_an_action(store: AlertStore) -> None:
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)
    store.raise_severity(alert.id, Severity.CRITICAL, 8.6, LATER)
    raised = store.get(alert.id)
    assert (raised.severity, raised.value, raised.since) == (Severity.CRITICAL, 8.6, T0)
    assert store.clear(alert.id, LATER + timedelta(minutes=5)).state == "open"


def test_the_audit_trail_records_every_change_with_its_actor(store: AlertStore) -> None:
    minute = timedelta(minutes=1)
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)
    store.raise_severity(alert.id, Severity.CRITICAL, 8.7, T0 + minute)
    store.mark(alert.id, "escalated_at", T0 + 2 * minute)
    store.acknowledge(alert.id, "li.wei", T0 + 3 * minute)
    store.clear(alert.id, T0 + 4 * minute)
    store.record_action(alert.id, "wang.fang", "stock moved to the walk-in", T0 + 5 * minute)

    trail = [(row["at"], row["actor"], row["action"]) for row in store.audit(alert.id)]
    assert trail == [
        ((T0).isoformat(), "rules", "opened"),
        ((T0 + minute).isoformat(), "rules", "severity raised"),
        ((T0 + 2 * minute).isoformat(), "rules", "escalated"),
        ((T0 + 3 * minute).isoformat(), "li.wei", "acknowledged"),
        ((T0 + 4 * minute).isoformat(), "rules", "back to normal"),
        ((T0 + 5 * minute).isoformat(), "wang.fang", "corrective action"),
        ((T0 + 5 * minute).isoformat(), "wang.fang", "resolved"),
    ]
    details = [row["detail"] for row in store.audit(alert.id)]
    assert details[0] == "warning, value 6.0"
    assert details[5] == "stock moved to the walk-in"
    assert store.audit(alert.id + 1) == []


def test_a_refused_change_writes_no_audit_row(store: AlertStore) -> None:
    alert = store.open(FRIDGE, Severity.CRITICAL, T0, 9.0, T0)
    with pytest.raises(AlertError):
        store.close_by_hand(alert.id, "li.wei", LATER)
    with pytest.raises(AlertError):
        store.record_action(alert.id, "li.wei", "", LATER)
    assert [row["action"] for row in store.audit(alert.id)] == ["opened"]


def test_rule_state_is_kept_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite3"
    first = AlertStore(path)
    assert first.rule_state() == {}
    first.save_rule_state({"site-a/node-1/fridge-1/temperature": {"since": T0.isoformat()}})
    first.close()
    again = AlertStore(path)
    assert again.rule_state() == {"site-a/node-1/fridge-1/temperature": {"since": T0.isoformat()}}
    again.close()
