"""The dead-letter store: everything the hub rejected, with the reason and the raw input."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.pipeline import DeadLetter

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    reading_index INTEGER,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters(received);
"""


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A dead letter as an operator reads it back."""

    id: int
    received: datetime
    topic: str
    reason: str
    reading_index: int | None
    payload: bytes


class DeadLetterStore:
    """Keeps rejected messages and readings in SQLite (WAL, shared with other hub processes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """Store dead letters in one transaction."""
        if not letters:
            return
        rows = [
            (d.received.astimezone(UTC).isoformat(), d.topic, d.reason, d.reading_index, d.payload)
            for d in letters
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO dead_letters (received, topic, reason, reading_index, payload)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")

    def count(self) -> int:
        """How many dead letters are kept."""
        with self._lock:
            (total,) = self._db.execute("SELECT count(*) FROM dead_letters").fetchone()
        return int(total)

    def latest(self, limit: int = 50) -> list[StoredDeadLetter]:
        """The newest dead letters first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received, topic, reason, reading_index, payload FROM dead_letters"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            StoredDeadLetter(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4], bytes(r[5]))
            for r in rows
        ]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
