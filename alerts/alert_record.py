"""One alert as the store keeps it (`Alert`): read from its row, shown as JSON.

An alert is `open`, then `acknowledged` (who, when), then `resolved`; alerts/store.py
makes those changes and writes the audit trail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.kinds import AlertKey, Severity


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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Alert:
        """The alert of a row of the `alerts` table."""
        since = _time(row["since"])
        opened = _time(row["opened_at"])
        assert since is not None and opened is not None  # noqa: S101  (NOT NULL columns)
        return cls(
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
