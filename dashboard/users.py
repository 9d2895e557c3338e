"""Who may use the dashboard: users and their roles, sign-in sessions, wall-screen kiosks.

Everything lives in `users.sqlite3` in the hub's state folder, with a versioned schema
(`MIGRATIONS`, applied once each, in order, inside a transaction). Passwords are kept
only as Argon2id hashes (the table refuses anything else); session and kiosk tokens
only as SHA-256 digests, so a copy of the file opens no door by itself.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from canteen.sqlite_schema import migrate, open_database, schema_version

Role = Literal["staff", "manager", "admin"]
ROLES: tuple[Role, ...] = ("staff", "manager", "admin")
"""Each role may do what the ones before it may."""
USERS_FILE = "users.sqlite3"
NAME_MAX = 64
PASSWORD_MIN = 8
HASHING_AT_ONCE = 2
"""Password checks run side by side at most; a burst of sign-ins cannot exhaust a Pi's RAM."""


def kitchen_hasher() -> PasswordHasher:
    """Argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).

    argon2-cffi's default (64 MiB, 3 passes, 4 lanes) takes about a second on a Pi 4 and
    would let parallel sign-ins claim hundreds of MiB; hashes made with other parameters
    still verify, and are re-hashed with these at the next sign-in.
    """
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


MIGRATIONS = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('staff', 'manager', 'admin')),
        password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
        created_at TEXT NOT NULL,
        password_changed_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions (user_id);
    CREATE TABLE kiosks (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        site TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
)


class UserError(ValueError):
    """A user change that cannot be made (the message says why)."""


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in."""

    id: int
    name: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this user has `role` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class Kiosk:
    """A wall screen allowed to read one site's picture, and nothing else."""

    id: int
    site: str
    label: str
    created_at: str
    revoked: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds")


def check_name(name: str) -> str:
    """A user name as stored: printable, no spaces, at most 64 characters."""
    if not 1 <= len(name) <= NAME_MAX or not name.isprintable() or any(c.isspace() for c in name):
        raise UserError(f"a user name is 1 to {NAME_MAX} printable characters without spaces")
    return name


def check_password(password: str) -> str:
    """A password long enough to keep."""
    if len(password) < PASSWORD_MIN:
        raise UserError(f"a password needs at least {PASSWORD_MIN} characters")
    return password


class UserStore:
    """The users file of the hub; safe to share between threads."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self._db = open_database(path)
        self._lock = threading.RLock()
        self._hasher = hasher or kitchen_hasher()
        self._hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)
        self._decoy: str | None = None
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            migrate(self._db, "user_schema", MIGRATIONS, "user")

    @property
    def schema_version(self) -> int:
        """The migration the file is at."""
        return schema_version(self._db, "user_schema")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    # --- users ------------------------------------------------------------------------------
    @staticmethod
    def _user(row: sqlite3.Row) -> User:
        return User(row["id"], row["name"], cast(Role, row["role"]))

    def add(self, name: str, role: Role, password: str, now: datetime) -> User:
        """A new user; UserError if the name is taken."""
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}: roles are {', '.join(ROLES)}")
        hashed = self._hash(check_password(password))
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO users (name, role, password_hash, created_at, "
                    "password_changed_at) VALUES (?, ?, ?, ?, ?)",
                    (check_name(name), role, hashed, _iso(now), _iso(now)),
                )
            except sqlite3.IntegrityError as err:
                raise UserError(f"there is already a user called {name!r}") from err
        return User(cast(int, cursor.lastrowid), name, role)

    def user(self, name: str) -> User:
        """One user by name (any case); UserError if there is none."""
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UserError(f"there is no user called {name!r}")
        return self._user(row)

    def users(self) -> list[User]:
        """Every user, by name."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM users ORDER BY name").fetchall()
        return [self._user(row) for row in rows]

    def set_password(self, name: str, password: str, now: datetime) -> None:
        """Change a password; the user's open sessions end."""
        user = self.user(name)
        hashed = self._hash(check_password(password))
        with self._lock:
            self._db.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                (hashed, _iso(now), user.id),
            )
            self._db.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))

    def remove(self, name: str) -> None:
        """Remove a user; their sessions end with them."""
        user = self.user(name)
        with self._lock:
            self._db.execute("DELETE FROM users WHERE id = ?", (user.id,))

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None (in about the same time either way)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if self._decoy is None:
            # Verified when a name is unknown: a wrong name takes as long as a wrong password.
            self._decoy = self._hash(secrets.token_hex(16))
        stored = row["password_hash"] if row is not None else self._decoy
        try:
            with self._hashing:
                self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(stored):  # made with other Argon2 parameters
            with self._lock:
                self._db.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ?",
                    (self._hash(password), row["id"]),
                )
        return self._user(row)

    def _hash(self, password: str) -> str:
        with self._hashing:
            return self._hasher.hash(password)

    # --- sessions ---------------------------------------------------------------------------
    def open_session(self, user: User, now: datetime, lifetime: timedelta) -> str:
        """A new session token for a user who just signed in (expired sessions are dropped)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now.timestamp(),))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (_digest(token), user.id, _iso(now), (now + lifetime).timestamp()),
            )
        return token

    def session_user(self, token: str, now: datetime) -> User | None:
        """Who a session token belongs to, if it is genuine and has not expired."""
        with self._lock:
            row = self._db.execute(
                "SELECT users.* FROM sessions JOIN users ON users.id = sessions.user_id "
                "WHERE token_hash = ? AND expires_at > ?",
                (_digest(token), now.timestamp()),
            ).fetchone()
        return self._user(row) if row is not None else None

    def close_session(self, token: str) -> None:
        """End a session (signing out)."""
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))

    # --- kiosks -----------------------------------------------------------------------------
    @staticmethod
    def _kiosk(row: sqlite3.Row) -> Kiosk:
        return Kiosk(
            row["id"], row["site"], row["label"], row["created_at"], row["revoked_at"] is not None
        )

    def add_kiosk(self, site: str, label: str, now: datetime) -> tuple[Kiosk, str]:
        """A new kiosk for a site's wall screen and its token (shown once, kept only hashed)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO kiosks (token_hash, site, label, created_at) VALUES (?, ?, ?, ?)",
                (_digest(token), site, label, _iso(now)),
            )
        return Kiosk(cast(int, cursor.lastrowid), site, label, _iso(now), False), token

    def kiosk(self, token: str) -> Kiosk | None:
        """The live kiosk a token belongs to, or None if it is unknown or revoked."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM kiosks WHERE token_hash = ? AND revoked_at IS NULL",
                (_digest(token),),
            ).fetchone()
        return self._kiosk(row) if row is not None else None

    def kiosks(self) -> list[Kiosk]:
        """Every kiosk ever made, revoked ones too."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM kiosks ORDER BY id").fetchall()
        return [self._kiosk(row) for row in rows]

    def revoke_kiosk(self, kiosk_id: int, now: datetime) -> None:
        """Stop a kiosk's token from opening anything; UserError if there is no such kiosk."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE kiosks SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (_iso(now), kiosk_id),
            )
        if cursor.rowcount == 0:
            raise UserError(f"there is no kiosk {kiosk_id}")
