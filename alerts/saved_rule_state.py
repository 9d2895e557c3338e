"""What the rules remember, kept in SQLite for a restart (`RuleBook.state_json()` text).

The one-row `rule_state` table of the alert store (alerts/store.py makes it, in its
migrations, and shares its connection and lock): `AlertStore` is a `RuleStateTable`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any


class RuleStateTable:
    """The rule_state table, on a connection and lock the store opened."""

    _db: sqlite3.Connection
    _lock: threading.RLock

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
