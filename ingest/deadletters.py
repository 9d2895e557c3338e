"""The dead-letter store: everything the hub rejected, with the reason and the raw input."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


@dataclass(frozen=True, slots=True)
class DeadLetterCounts:
    """How many dead letters are kept: in all, in the last 24 hours, and by kind of reason."""

    total: int
    last_24h: int
    by_reason: list[tuple[str, int]]


def reason_kind(reason: str) -> str:
    """The kind of a reason, for counting: without the reading's index and the details.

    `reading 3: temperature.celsius: Input should be ...` is `temperature.celsius`, and
    `payload is not valid JSON: Expecting value ...` is `payload is not valid JSON`.
    """
    text = reason.split(": ", 1)[1] if reason.startswith("reading ") else reason
    head = text.split(": ", 1)[0]
    return head.split(" (", 1)[0][:80]


class DeadLetterReader:
    """Reads the dead-letter store without ever writing to it or locking the ingest out.

    The database is opened read-only (`mode=ro`), per call, so a reader holds nothing
    between requests; a store the ingest has not created yet reads as empty.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        uri = f"{self.path.absolute().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=2000")
        return db

    def page(self, limit: int = 50, before: int | None = None) -> list[StoredDeadLetter]:
        """Up to `limit` dead letters, newest first, older than id `before` if given."""
        db = self._connect()
        if db is None:
            return []
        try:
            rows = db.execute(
                "SELECT id, received, topic, reason, reading_index, payload FROM dead_letters"
                " WHERE id < ? ORDER BY id DESC LIMIT ?",
                (before if before is not None else 2**63 - 1, limit),
            ).fetchall()
        except sqlite3.OperationalError:  # the ingest has not made the table yet
            return []
        finally:
            db.close()
        return [
            StoredDeadLetter(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4], bytes(r[5]))
            for r in rows
        ]

    def counts(self, now: datetime, by_reason: bool = True) -> DeadLetterCounts:
        """The totals, and (unless told not to) the count of each kind of reason."""
        db = self._connect()
        if db is None:
            return DeadLetterCounts(0, 0, [])
        since = (now - timedelta(hours=24)).astimezone(UTC).isoformat()
        try:
            (total,) = db.execute("SELECT count(*) FROM dead_letters").fetchone()
            (recent,) = db.execute(
                "SELECT count(*) FROM dead_letters WHERE received >= ?", (since,)
            ).fetchone()
            grouped = (
                db.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
                if by_reason
                else []
            )
        except sqlite3.OperationalError:
            return DeadLetterCounts(0, 0, [])
        finally:
            db.close()
        kinds: dict[str, int] = {}
        for reason, count in grouped:
            kinds[reason_kind(reason)] = kinds.get(reason_kind(reason), 0) + int(count)
        ranked = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))
        return DeadLetterCounts(int(total), int(recent), ranked)
