"""Alerts, their audit trail, notification deliveries and rule state, in SQLite.

The schema is versioned: `MIGRATIONS` are applied in order, once each, inside a
transaction, so a hub upgraded in place keeps its inspection records. Every change to
an alert writes an audit row saying who did what, when.

An alert is `open`, then `acknowledged` (who, when), then `resolved`. The condition
clearing (back in range) resolves a warning by itself; a critical alert also needs a
corrective action recorded before it is resolved, so the record says what was done.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.kinds import AlertKey, AlertKind, Severity
from canteen.sqlite_schema import migrate, open_database, schema_version

MIGRATIONS = (
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        site TEXT NOT NULL, device TEXT NOT NULL, sensor TEXT NOT NULL, kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
        since TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        value REAL,
        cleared_at TEXT,
        acknowledged_at TEXT, acknowledged_by TEXT,
        resolved_at TEXT, resolved_by TEXT,
        corrective_action TEXT,
        escalated_at TEXT,
        last_reminder_at TEXT,
        delivery TEXT NOT NULL DEFAULT 'pending'
    );
    CREATE INDEX alerts_by_state ON alerts (state, site);
    CREATE UNIQUE INDEX one_live_alert_per_key ON alerts (key) WHERE state != 'resolved';
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT
    );
    CREATE TABLE rule_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        role TEXT NOT NULL, purpose TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        sent_at TEXT, error TEXT
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    """,
)


class AlertError(ValueError):
    """A change to an alert that is not allowed (the message says why)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as stored."""

    id: int
    key: AlertKey
    severity: Severity
    state: str
    since: datetime
    opened_at: datetime
    value: float | None
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    corrective_action: str | None
    escalated_at: datetime | None
    last_reminder_at: datetime | None
    delivery: str

    def to_json(self) -> dict[str, Any]:
        """The alert as the API returns it."""
        return {
            "id": self.id,
            "site": self.key.site,
            "device": self.key.device,
            "sensor": self.key.sensor,
            "kind": self.key.kind.value,
            "severity": self.severity.value,
            "state": self.state,
            "since": self.since.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "value": self.value,
            "cleared_at": _iso(self.cleared_at),
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": _iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "corrective_action": self.corrective_action,
            "delivery": self.delivery,
            "needs_action": self.needs_action,
        }

    @property
    def needs_action(self) -> bool:
        """A critical alert whose corrective action is not recorded yet."""
        return self.severity is Severity.CRITICAL and not self.corrective_action


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A notification to send (or sent) for an alert."""

    id: int
    alert_id: int
    role: str
    purpose: str
    attempts: int


class AlertStore:
    """The alert tables of the hub's SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()
        with self._lock:
            migrate(self._db, "alert_schema", MIGRATIONS, "alert")

    @property
    def schema_version(self) -> int:
        """The migration the database is at."""
        return schema_version(self._db, "alert_schema")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # --- reading ----------------------------------------------------------------------------
    @staticmethod
    def _alert(row: sqlite3.Row) -> Alert:
        since = _time(row["since"])
        opened = _time(row["opened_at"])
        assert since is not None and opened is not None  # noqa: S101  (NOT NULL columns)
        return Alert(
            id=row["id"],
            key=AlertKey.parse(row["key"]),
            severity=Severity(row["severity"]),
            state=row["state"],
            since=since,
            opened_at=opened,
            value=row["value"],
            cleared_at=_time(row["cleared_at"]),
            acknowledged_at=_time(row["acknowledged_at"]),
            acknowledged_by=row["acknowledged_by"],
            resolved_at=_time(row["resolved_at"]),
            resolved_by=row["resolved_by"],
            corrective_action=row["corrective_action"],
            escalated_at=_time(row["escalated_at"]),
            last_reminder_at=_time(row["last_reminder_at"]),
            delivery=row["delivery"],
        )

    def get(self, alert_id: int) -> Alert:
        """One alert; AlertError if there is none with that id."""
        with self._lock:
            row = self._db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise AlertError(f"there is no alert {alert_id}")
        return self._alert(row)

    def live(self, site: str | None = None) -> list[Alert]:
        """Alerts not resolved yet (open or acknowledged), newest first."""
        query = "SELECT * FROM alerts WHERE state != 'resolved'"
        args: tuple[str, ...] = ()
        if site is not None:
            query, args = query + " AND site = ?", (site,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC", args).fetchall()
        return [self._alert(row) for row in rows]

    def live_for(self, key: AlertKey) -> Alert | None:
        """The unresolved alert of a key, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM alerts WHERE key = ? AND state != 'resolved'", (key.text(),)
            ).fetchone()
        return None if row is None else self._alert(row)

    def between(self, site: str, start: datetime, end: datetime) -> list[Alert]:
        """Every alert of a site whose condition began in [start, end), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM alerts WHERE site = ? AND since >= ? AND since < ? ORDER BY since",
                (site, start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()),
            ).fetchall()
        return [self._alert(row) for row in rows]

    def audit(self, alert_id: int) -> list[dict[str, Any]]:
        """An alert's audit trail, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at, actor, action, detail FROM audit WHERE alert_id = ? ORDER BY id",
                (alert_id,),
            ).fetchall()
        return [dict(row) for row in rows]

    # --- changing ---------------------------------------------------------------------------
    def _audit(
        self, alert_id: int, at: datetime, actor: str, action: str, detail: str = ""
    ) -> None:
        self._db.execute(
            "INSERT INTO audit (alert_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (alert_id, at.isoformat(), actor, action, detail),
        )

    def _change(self, sql: str, args: tuple[Any, ...], audit: tuple[Any, ...]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(sql, args)
                self._audit(*audit)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def open(
        self, key: AlertKey, severity: Severity, since: datetime, value: float | None, now: datetime
    ) -> Alert:
        """Open an alert for a key (one unresolved alert per key at most)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO alerts (key, site, device, sensor, kind, severity, state, since,"
                    " opened_at, value) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
                    (
                        key.text(),
                        key.site,
                        key.device,
                        key.sensor,
                        key.kind.value,
                        severity.value,
                        since.astimezone(UTC).isoformat(),
                        now.astimezone(UTC).isoformat(),
                        value,
                    ),
                )
                alert_id = int(cursor.lastrowid or 0)
                self._audit(alert_id, now, "rules", "opened", f"{severity.value}, value {value}")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return self.get(alert_id)

    def raise_severity(
        self, alert_id: int, severity: Severity, value: float | None, now: datetime
    ) -> None:
        """A warning that became critical."""
        self._change(
            "UPDATE alerts SET severity = ?, value = ? WHERE id = ?",
            (severity.value, value, alert_id),
            (alert_id, now, "rules", "severity raised", f"{severity.value}, value {value}"),
        )

    def reopen(self, alert_id: int, value: float | None, now: datetime) -> None:
        """A cleared alert, still waiting for its corrective action, whose condition is back."""
        self._change(
            "UPDATE alerts SET cleared_at = NULL, value = ? WHERE id = ?",
            (value, alert_id),
            (alert_id, now, "rules", "out of range again", f"value {value}"),
        )

    def acknowledge(self, alert_id: int, who: str, now: datetime) -> Alert:
        """Someone has seen it and is dealing with it."""
        with self._lock:  # checked and changed under one lock: two phones, one name
            alert = self.get(alert_id)
            if alert.state != "open":
                raise AlertError(f"alert {alert_id} is {alert.state}, not open")
            self._change(
                "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?,"
                " acknowledged_by = ? WHERE id = ?",
                (now.astimezone(UTC).isoformat(), who, alert_id),
                (alert_id, now, who, "acknowledged"),
            )
        return self.get(alert_id)

    def record_action(self, alert_id: int, who: str, text: str, now: datetime) -> Alert:
        """What was done about it; resolves it if its condition is already over."""
        text = text.strip()
        if not text:
            raise AlertError("a corrective action needs a few words: what was done")
        alert = self.get(alert_id)
        self._change(
            "UPDATE alerts SET corrective_action = ? WHERE id = ?",
            (text, alert_id),
            (alert_id, now, who, "corrective action", text),
        )
        if alert.cleared_at is not None and alert.state != "resolved":
            self._resolve(alert_id, who, now)
        return self.get(alert_id)

    def clear(self, alert_id: int, now: datetime) -> Alert:
        """The condition is over: resolve, unless a critical alert still lacks its action."""
        alert = self.get(alert_id)
        self._change(
            "UPDATE alerts SET cleared_at = ? WHERE id = ?",
            (now.astimezone(UTC).isoformat(), alert_id),
            (alert_id, now, "rules", "back to normal"),
        )
        if not alert.needs_action:
            self._resolve(alert_id, "rules", now)
        return self.get(alert_id)

    def close_by_hand(self, alert_id: int, who: str, now: datetime) -> Alert:
        """A person closes it (a critical alert only once its corrective action is in)."""
        alert = self.get(alert_id)
        if alert.state == "resolved":
            raise AlertError(f"alert {alert_id} is already resolved")
        if alert.needs_action:
            raise AlertError("record the corrective action before closing a critical alert")
        self._resolve(alert_id, who, now)
        return self.get(alert_id)

    def _resolve(self, alert_id: int, who: str, now: datetime) -> None:
        self._change(
            "UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_by = ? WHERE id = ?",
            (now.astimezone(UTC).isoformat(), who, alert_id),
            (alert_id, now, who, "resolved"),
        )

    def mark(self, alert_id: int, column: str, now: datetime) -> None:
        """Note that an escalation or a reminder went out."""
        action = {"escalated_at": "escalated", "last_reminder_at": "reminded"}.get(column)
        if action is None:
            raise ValueError(column)
        self._change(
            f"UPDATE alerts SET {column} = ? WHERE id = ?",  # noqa: S608 (fixed names)
            (now.astimezone(UTC).isoformat(), alert_id),
            (alert_id, now, "rules", action),
        )

    # --- deliveries -------------------------------------------------------------------------
    def queue_delivery(self, alert_id: int, role: str, purpose: str, now: datetime) -> None:
        """Ask for a notification to a role (duty, manager) about an alert."""
        with self._lock:
            self._db.execute(
                "INSERT INTO deliveries (alert_id, role, purpose, next_attempt_at)"
                " VALUES (?, ?, ?, ?)",
                (alert_id, role, purpose, now.astimezone(UTC).isoformat()),
            )

    def due_deliveries(self, now: datetime) -> list[Delivery]:
        """Notifications to try now, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, alert_id, role, purpose, attempts FROM deliveries"
                " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id",
                (now.astimezone(UTC).isoformat(),),
            ).fetchall()
        return [Delivery(**dict(row)) for row in rows]

    def delivery_result(
        self,
        delivery: Delivery,
        status: str,
        now: datetime,
        error: str = "",
        retry_at: datetime | None = None,
    ) -> None:
        """Record a delivery's outcome: sent, failed (for good), capped, or retry later."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, error = ?,"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,"
                " next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?",
                (
                    status,
                    error or None,
                    status,
                    now.astimezone(UTC).isoformat(),
                    retry_at.astimezone(UTC).isoformat() if retry_at else None,
                    delivery.id,
                ),
            )
            if status == "skipped":  # nothing needed sending: the summary stands
                return
            summary = {"sent": "delivered", "pending": "retrying"}.get(status, "failed")
            self._db.execute(
                "UPDATE alerts SET delivery = ? WHERE id = ?", (summary, delivery.alert_id)
            )

    def sent_today(self, role: str, site: str, day_start: datetime) -> int:
        """Notifications sent to a role of a site since the day began (for the daily cap)."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM deliveries JOIN alerts ON alerts.id = deliveries.alert_id"
                " WHERE deliveries.role = ? AND alerts.site = ? AND deliveries.status = 'sent'"
                " AND deliveries.sent_at >= ?",
                (role, site, day_start.astimezone(UTC).isoformat()),
            ).fetchone()
        return int(row[0])

    def deliveries(self, alert_id: int) -> list[dict[str, Any]]:
        """An alert's notifications and how they went."""
        with self._lock:
            rows = self._db.execute(
                "SELECT role, purpose, status, attempts, sent_at, error FROM deliveries"
                " WHERE alert_id = ? ORDER BY id",
                (alert_id,),
            ).fetchall()
        return [dict(row) for row in rows]

    # --- rule state -------------------------------------------------------------------------
    def save_rule_state(self, state: dict[str, Any]) -> None:
        """Keep what the rules remember, for a restart."""
        self.save_rule_state_json(json.dumps(state))

    def save_rule_state_json(self, text: str) -> None:
        """Keep what the rules remember, already as JSON text (`RuleBook.state_json()`)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO rule_state (id, state) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                (text,),
            )

    def rule_state(self) -> dict[str, Any]:
        """What the rules remembered before the restart."""
        with self._lock:
            row = self._db.execute("SELECT state FROM rule_state WHERE id = 1").fetchone()
        return {} if row is None else dict(json.loads(row[0]))


__all__ = ["Alert", "AlertError", "AlertKind", "AlertStore", "Delivery"]
