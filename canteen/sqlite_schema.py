"""The hub's SQLite files: how each is opened and how its versioned schema is brought up to date.

Each store (alerts, users, the menu) keeps a tuple of migration scripts; `migrate` applies
the ones a file has not had yet, in order, each inside its own transaction, and records
its version, so a hub upgraded in place keeps its records. A file written by a newer
program is refused rather than half understood.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path


class SchemaError(RuntimeError):
    """A database file this program cannot use as it is (the message says what to do)."""


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating) a store's file: autocommit, rows by name, WAL, foreign keys on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def schema_version(db: sqlite3.Connection, table: str) -> int:
    """The last migration applied to the file (0 for a new one)."""
    row = db.execute(f"SELECT max(version) FROM {table}").fetchone()  # noqa: S608 (our name)
    return int(row[0] or 0)


def migrate(db: sqlite3.Connection, table: str, migrations: Sequence[str], what: str) -> None:
    """Apply the migrations the file lacks; SchemaError if it is newer than `migrations`."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER NOT NULL)")
    current = schema_version(db, table)
    if current > len(migrations):
        raise SchemaError(
            f"the {what} database is at schema {current}, newer than this program knows "
            f"({len(migrations)}): run the version that wrote it, or restore a backup made "
            "by this one"
        )
    for version, script in enumerate(migrations[current:], start=current + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"INSERT INTO {table} VALUES (?)", (version,))  # noqa: S608 (our name)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
