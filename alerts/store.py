"""Alerts and their audit trail in SQLite, with the deliveries and rule state beside them.

The schema is versioned: `MIGRATIONS` are applied in order, once each, inside a
transaction, so a hub upgraded in place keeps its inspection records. Every change to
an alert writes an audit row saying who did what, when. The notification outbox
(alerts/deliveries.py) and the rules' saved memory (alerts/saved_rule_state.py) are
tables of the same file, on the same connection and lock: `AlertStore` is both.

An alert is `open`, then `acknowledged` (who, when), then `resolved`. The condition
clearing (back in range) resolves a warning by itself; a critical alert also needs a
corrective action recorded before it is resolved, so the record says what was done.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.alert_record import Alert
from alerts.deliveries import DeliveryOutbox
from alerts.kinds import AlertKey, Severity
from alerts.saved_rule_state import RuleStateTable
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


class AlertStore(DeliveryOutbox, RuleStateTable):
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
    def get(self, alert_id: int) -> Alert:
        """One alert; AlertError if there is none with that id."""
        with self._lock:
            row = self._db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise AlertError(f"there is no alert {alert_id}")
        return Alert.from_row(row)

    def live(self, site: str | None = None) -> list[Alert]:
        """Alerts not resolved yet (open or acknowledged), newest first."""
        query = "SELECT * FROM alerts WHERE state != 'resolved'"
        args: tuple[str, ...] = ()
        if site is not None:
            query, args = query + " AND site = ?", (site,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC", args).fetchall()
        return [Alert.from_row(row) for row in rows]

    def live_for(self, key: AlertKey) -> Alert | None:
        """The unresolved alert of a key, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM alerts WHERE key = ? AND state != 'resolved'", (key.text(),)
            ).fetchone()
        return None if row is None else Alert.from_row(row)

    def between(self, site: str, start: datetime, end: datetime) -> list[Alert]:
        """Every alert of a site whose condition began in [start, end), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM alerts WHERE site = ? AND since >= ? AND since < ? ORDER BY since",
                (site, start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()),
            ).fetchall()
        return [Alert.from_row(row) for row in rows]

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
