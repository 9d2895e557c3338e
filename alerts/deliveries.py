"""The notification outbox: deliveries queued for an alert, tried, and how they went.

The `deliveries` table of the alert store (alerts/store.py makes it, in its migrations,
and shares its connection and lock): `AlertStore` is a `DeliveryOutbox`.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Delivery:
    """A notification to send (or sent) for an alert."""

    id: int
    alert_id: int
    role: str
    purpose: str
    attempts: int


class DeliveryOutbox:
    """The deliveries table, on a connection and lock the store opened."""

    _db: sqlite3.Connection
    _lock: threading.RLock

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
