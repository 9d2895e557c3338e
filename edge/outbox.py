"""The edge's SQLite outbox: every reading is kept on the Pi until the broker has it.

Readings wait in `pending` until they are packed into a telemetry message; a packed
message waits in `messages`, with its seq and exact bytes, until the broker's PUBACK.
Packing and the seq counter move in one transaction, so a reading is in exactly one
place at any instant and a seq is never handed out twice, whatever the crash.

An acknowledged message is not forgotten at once: Mosquitto acknowledges from memory and
writes its queue to disk only every `autosave_interval` (broker/conf.d/limits.conf), so a
broker killed or cut from power loses what it acknowledged since its last save. The
agent keeps acknowledged messages for a while (`edge.config.KEEP_ACKED_S`) and sends
them again after it lost the broker (`reopen_acknowledged`); a point stored twice is
the same point, so the only cost of a needless resend is bandwidth.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from protocol import Reading, encode_telemetry
from protocol.models import READING

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, body BLOB NOT NULL, readings INTEGER NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS held (
    id INTEGER PRIMARY KEY, boot_id TEXT NOT NULL, basis_ns INTEGER NOT NULL, body TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value)
    VALUES ('next_seq', 1), ('dropped', 0), ('corrected', 0), ('unverified', 0);
"""
_DROP_OLDEST = {
    "pending": "DELETE FROM pending WHERE id IN (SELECT id FROM pending ORDER BY id LIMIT ?)",
    "held": "DELETE FROM held WHERE id IN (SELECT id FROM held ORDER BY id LIMIT ?)",
}

logger = logging.getLogger(__name__)


def _readable(rows: list[tuple[int, str]]) -> tuple[list[Reading], int]:
    """Parse stored readings; count those no longer valid instead of blocking the outbox.

    Every body was written from a valid model, so this only trips if a newer protocol
    module tightened a rule: one such reading must not stop every reading behind it.
    """
    readings: list[Reading] = []
    for row_id, body in rows:
        try:
            readings.append(READING.validate_json(body))
        except ValidationError as err:
            logger.error("outbox row %d is not a valid reading any more, dropped: %s", row_id, err)
    return readings, len(rows) - len(readings)


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or used."""


@dataclass(frozen=True, slots=True)
class PackedMessage:
    """A telemetry message as it goes on the wire: its seq, bytes and reading count."""

    seq: int
    body: bytes
    readings: int


class Outbox:
    """Readings and packed messages kept on disk until the broker acknowledges them.

    Full policy: when the readings kept (pending, in unacknowledged messages, and held
    for the clock) would exceed `max_readings`, the OLDEST waiting readings are dropped
    (pending ones first, then held ones) and counted in `dropped()`; the status
    message reports that count as `outbox_dropped`. Packed messages are never
    dropped: the agent keeps at most a few of them, far below the limit.

    Thread-safe: one connection, guarded by a lock.
    """

    def __init__(self, path: Path, max_readings: int = 500_000) -> None:
        if max_readings < 1:
            raise ValueError(f"max_readings must be at least 1, not {max_readings}")
        self.path = path
        self.max_readings = max_readings
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._configure()
        except (OSError, sqlite3.Error) as err:
            raise OutboxError(f"cannot open the outbox {path}: {err}") from err
        self._pending = self._count("SELECT count(*) FROM pending")
        self._unacked = self._count(
            "SELECT coalesce(sum(readings), 0) FROM messages WHERE acked = 0"
        )
        self._held = self._count("SELECT count(*) FROM held")

    def _configure(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL. In WAL mode NORMAL syncs the log only at checkpoints, so a
        # power cut (not a process crash: the OS still holds those writes) keeps the
        # file consistent but rolls back the last transactions committed before it:
        # readings taken in the final seconds before the cut while the network was
        # down would be lost, and a rolled-back pack would hand out the same seq
        # again, breaking PROTOCOL.md's "strictly increasing across restarts". FULL
        # syncs the log on each commit. Its cost is small here: the agent commits a
        # few times a second at most (one add per poll, one pack and one ack per
        # message; a replayed batch of 500 readings is one commit), the log file is
        # reused in place after each checkpoint (fdatasync writes data blocks only),
        # which is some 1-2 GB of card writes a day on a busy node, decades of a
        # 32 GB card's endurance. The guarantee is as good as the card's own flush.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA journal_size_limit=16777216")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        if "acked" not in columns:  # an outbox from before acknowledged messages were kept
            self._db.execute("ALTER TABLE messages ADD COLUMN acked INTEGER NOT NULL DEFAULT 0")

    def _count(self, sql: str) -> int:
        row = self._db.execute(sql).fetchone()
        return int(row[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run one write transaction; the caller holds the lock."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as err:
            raise OutboxError(f"outbox {self.path}: {err}") from err

    def add(self, readings: Sequence[Reading]) -> None:
        """Keep new readings, in one transaction; apply the full policy if needed."""
        if not readings:
            return
        bodies = [(r.model_dump_json(exclude_none=True),) for r in readings]
        with self._lock:
            pending = self._pending + len(bodies)
            kept = pending + self._unacked + self._held
            overflow = min(kept - self.max_readings, pending)
            with self._transaction() as db:
                db.executemany("INSERT INTO pending (body) VALUES (?)", bodies)
                if overflow > 0:
                    self._drop_oldest(db, "pending", overflow)
            self._pending = pending - max(overflow, 0)
        self._warn_full(overflow)

    def _warn_full(self, dropped: int) -> None:
        if dropped > 0:
            logger.warning("outbox %s is full: dropped the %d oldest readings", self.path, dropped)

    def hold(self, readings: Sequence[Reading], boot_id: str, basis_ns: int) -> None:
        """Keep readings taken before the clock was trusted, with the clock's basis then.

        The full policy covers them too: a Pi whose clock is never set (no NTP server
        reachable) fills its outbox and then drops its oldest readings, as it would
        offline; it never grows past `max_readings`.
        """
        if not readings:
            return
        rows = [(boot_id, basis_ns, r.model_dump_json(exclude_none=True)) for r in readings]
        with self._lock:
            overflow = self._pending + self._unacked + self._held + len(rows) - self.max_readings
            from_pending = min(max(overflow, 0), self._pending)
            from_held = min(max(overflow - from_pending, 0), self._held + len(rows))
            with self._transaction() as db:
                db.executemany("INSERT INTO held (boot_id, basis_ns, body) VALUES (?, ?, ?)", rows)
                if from_pending:
                    self._drop_oldest(db, "pending", from_pending)
                if from_held:
                    self._drop_oldest(db, "held", from_held)
            self._pending -= from_pending
            self._held += len(rows) - from_held
        self._warn_full(from_pending + from_held)

    def held(self) -> int:
        """Readings waiting for the clock to be trusted."""
        with self._lock:
            return self._held

    def release(self, boot_id: str, basis_ns: int) -> tuple[int, int]:
        """Correct held readings of this boot by the clock's change and queue them all.

        Returns (corrected, unverified): readings of an earlier boot cannot be corrected
        and go unchanged, counted in `meta` and logged by the caller.
        """
        with self._lock:
            with self._transaction() as db:
                rows = db.execute("SELECT id, boot_id, basis_ns, body FROM held ORDER BY id")
                bodies, corrected, unverified, unreadable = [], 0, 0, 0
                for row_id, boot, basis, body in rows.fetchall():
                    readings, _ = _readable([(row_id, body)])
                    if not readings:
                        unreadable += 1
                        continue
                    reading = readings[0]
                    if boot == boot_id:
                        shift = timedelta(microseconds=(basis_ns - basis) // 1000)
                        reading = reading.model_copy(update={"ts": reading.ts + shift})
                        corrected += 1
                    else:  # kept as taken, and marked so the hub knows the date is a guess
                        reading = reading.model_copy(update={"clock_unverified": True})
                        unverified += 1
                    bodies.append((reading.model_dump_json(exclude_none=True),))
                db.execute("DELETE FROM held")
                db.executemany("INSERT INTO pending (body) VALUES (?)", bodies)
                db.execute(
                    "UPDATE meta SET value = value + ? WHERE key = 'corrected'", (corrected,)
                )
                db.execute(
                    "UPDATE meta SET value = value + ? WHERE key = 'unverified'", (unverified,)
                )
                db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (unreadable,))
            self._pending += len(bodies)
            self._held = 0
        return corrected, unverified

    def clock_counts(self) -> tuple[int, int]:
        """Readings corrected and released unverified since the outbox was created."""
        with self._lock:
            corrected = self._count("SELECT value FROM meta WHERE key = 'corrected'")
            unverified = self._count("SELECT value FROM meta WHERE key = 'unverified'")
        return corrected, unverified

    @staticmethod
    def _drop_oldest(db: sqlite3.Connection, table: str, count: int) -> None:
        db.execute(_DROP_OLDEST[table], (count,))
        db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (count,))

    def pack(self, max_readings: int, sent: datetime) -> PackedMessage | None:
        """Move the oldest pending readings (up to `max_readings`) into a new message."""
        with self._lock, self._transaction() as db:
            rows = db.execute(
                "SELECT id, body FROM pending ORDER BY id LIMIT ?", (max_readings,)
            ).fetchall()
            if not rows:
                return None
            readings, unreadable = _readable(rows)
            db.execute("DELETE FROM pending WHERE id <= ?", (rows[-1][0],))
            message = self._store_message(db, readings, sent) if readings else None
            if unreadable:
                db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (unreadable,))
            self._pending -= len(rows)
            self._unacked += message.readings if message else 0
            return message

    def _store_message(
        self, db: sqlite3.Connection, readings: list[Reading], sent: datetime
    ) -> PackedMessage:
        (seq,) = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        message = PackedMessage(int(seq), encode_telemetry(seq, sent, readings), len(readings))
        db.execute(
            "INSERT INTO messages (seq, body, readings) VALUES (?, ?, ?)",
            (message.seq, message.body, message.readings),
        )
        db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (message.seq + 1,))
        return message

    def unacknowledged(self) -> list[PackedMessage]:
        """The packed messages the broker has not acknowledged yet, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body, readings FROM messages WHERE acked = 0 ORDER BY seq"
            ).fetchall()
        return [PackedMessage(int(seq), bytes(body), int(n)) for seq, body, n in rows]

    def acknowledge(self, seq: int) -> None:
        """Mark a message the broker acknowledged (a repeated ack is harmless); kept until
        `forget`, in case the broker dies before it saves it."""
        with self._lock:
            with self._transaction() as db:
                row = db.execute(
                    "SELECT readings FROM messages WHERE seq = ? AND acked = 0", (seq,)
                ).fetchone()
                if row is not None:
                    db.execute("UPDATE messages SET acked = 1 WHERE seq = ?", (seq,))
            if row is not None:
                self._unacked -= int(row[0])

    def forget(self, seqs: Sequence[int]) -> None:
        """Delete acknowledged messages the broker has had long enough to save."""
        if not seqs:
            return
        with self._lock, self._transaction() as db:
            db.executemany("DELETE FROM messages WHERE seq = ? AND acked = 1", [(s,) for s in seqs])

    def reopen_acknowledged(self) -> list[PackedMessage]:
        """Mark every kept acknowledged message unacknowledged again, and return them.

        Called when the broker may have lost them: after the connection to it was lost,
        and when the agent starts (it cannot know what happened while it was down).
        """
        with self._lock:
            with self._transaction() as db:
                rows = db.execute(
                    "SELECT seq, body, readings FROM messages WHERE acked = 1 ORDER BY seq"
                ).fetchall()
                db.execute("UPDATE messages SET acked = 0 WHERE acked = 1")
            reopened = [PackedMessage(int(seq), bytes(body), int(n)) for seq, body, n in rows]
            self._unacked += sum(m.readings for m in reopened)
        return reopened

    def acknowledged_kept(self) -> int:
        """Acknowledged messages still kept in case the broker lost them."""
        with self._lock:
            return self._count("SELECT count(*) FROM messages WHERE acked = 1")

    def pending(self) -> int:
        """Readings not yet packed into a message."""
        with self._lock:
            return self._pending

    def backlog(self) -> int:
        """Readings the broker does not have yet: pending plus in unacknowledged messages."""
        with self._lock:
            return self._pending + self._unacked

    def dropped(self) -> int:
        """Readings dropped by the full policy since the outbox was created."""
        with self._lock:
            return self._count("SELECT value FROM meta WHERE key = 'dropped'")

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()
