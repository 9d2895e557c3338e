"""Versioned SQLite schemas, tested from the oldest schema forward.

For each store with `MIGRATIONS`: a file made at version 1 only, by hand, with rows in it,
opened by the current store class, keeps its rows and ends at the latest version.
(ingest/deadletters.py has no versions: one `CREATE TABLE IF NOT EXISTS` script.)
"""

# ruff: noqa: S608  (SQL built from this file's own constants and table names)
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from alerts import store as alert_store
from alerts.kinds import AlertKind, Severity
from dashboard import users as user_store
from protocol import WasteCategory
from reports import menu as menu_store
from reports.stations import Station

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
HASH = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("correct horse battery")


@dataclass(frozen=True)
class Store:
    """One versioned store: its migrations, version table, rows at v1, and how to open it."""

    migrations: tuple[str, ...]
    version_table: str
    rows_at_v1: list[str]
    open: Callable[[Path], Any]
    check: Callable[[Any], None]


def _check_alerts(store: alert_store.AlertStore) -> None:
    alert = store.get(1)
    assert alert.key.kind is AlertKind.TEMPERATURE
    assert alert.severity is Severity.CRITICAL
    assert alert.acknowledged_by == "li"
    assert [row["action"] for row in store.audit(1)] == ["opened"]
    assert store.rule_state() == {"s/f1": 1}


def _check_users(store: user_store.UserStore) -> None:
    user = store.verify("li", "correct horse battery")
    assert user is not None and user.role == "manager"
    assert [kiosk.label for kiosk in store.kiosks()] == ["kitchen wall"]


def _check_menu(store: menu_store.MenuStore) -> None:
    assert [(d.slug, d.name_en) for d in store.dishes("s")] == [("rice", "Rice")]
    assert store.category_costs("s") == {"plate": 12.0}
    assert store.stations("s") == {}


STORES = {
    "alerts": Store(
        alert_store.MIGRATIONS,
        "alert_schema",
        [
            "INSERT INTO alerts (key, site, device, sensor, kind, severity, state, since,"
            " opened_at, value, acknowledged_at, acknowledged_by) VALUES ("
            "'s/f1/fridge-1/temperature', 's', 'f1', 'fridge-1', 'temperature', 'critical',"
            f" 'acknowledged', '{NOW.isoformat()}', '{NOW.isoformat()}', 9.5,"
            f" '{NOW.isoformat()}', 'li')",
            "INSERT INTO audit (alert_id, at, actor, action, detail)"
            f" VALUES (1, '{NOW.isoformat()}', 'rules', 'opened', 'critical')",
            "INSERT INTO rule_state VALUES (1, '{\"s/f1\": 1}')",
            "INSERT INTO deliveries (alert_id, role, purpose, next_attempt_at)"
            f" VALUES (1, 'duty', 'alert', '{NOW.isoformat()}')",
        ],
        alert_store.AlertStore,
        _check_alerts,
    ),
    "users": Store(
        user_store.MIGRATIONS,
        "user_schema",
        [
            "INSERT INTO users (name, role, password_hash, created_at, password_changed_at)"
            f" VALUES ('li', 'manager', '{HASH}', '{NOW.isoformat()}', '{NOW.isoformat()}')",
            "INSERT INTO kiosks (token_hash, site, label, created_at)"
            f" VALUES ('{'0' * 64}', 's', 'kitchen wall', '{NOW.isoformat()}')",
        ],
        lambda path: user_store.UserStore(
            path, PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
        ),
        _check_users,
    ),
    "menu": Store(
        menu_store.MIGRATIONS,
        "menu_schema",
        [
            "INSERT INTO dishes VALUES ('s', 'rice', '米饭', 'Rice', 4.0, 0, 0)",
            "INSERT INTO category_costs VALUES ('s', 'plate', 12.0)",
        ],
        menu_store.MenuStore,
        _check_menu,
    ),
}


def _make_at_version(path: Path, store: Store, version: int) -> None:
    """The file as the code of that version left it: its migrations and version rows only."""
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE {store.version_table} (version INTEGER NOT NULL)")
    for number, script in enumerate(store.migrations[:version], start=1):
        db.executescript(script)
        db.execute(f"INSERT INTO {store.version_table} VALUES (?)", (number,))
    db.commit()
    db.close()


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(path)
    names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    rows = {n: db.execute(f'SELECT * FROM "{n}"').fetchall() for n in names}
    db.close()
    return rows


@pytest.mark.parametrize("name", sorted(STORES))
def test_a_version_1_file_is_migrated_to_the_latest_schema_with_its_rows(
    name: str, tmp_path: Path
) -> None:
    store = STORES[name]
    path = tmp_path / f"{name}.sqlite3"
    _make_at_version(path, store, 1)
    db = sqlite3.connect(path)
    for statement in store.rows_at_v1:
        db.execute(statement)
    db.commit()
    db.close()
    before = _rows(path)

    opened = store.open(path)
    assert opened.schema_version == len(store.migrations)
    store.check(opened)
    opened.close()
    after = _rows(path)
    for table, rows in before.items():
        if table != store.version_table:
            assert after[table][: len(rows)] == rows, table
    assert after[store.version_table] == [(v,) for v in range(1, len(store.migrations) + 1)]


@pytest.mark.parametrize("name", sorted(STORES))
def test_reopening_a_migrated_file_changes_nothing(name: str, tmp_path: Path) -> None:
    store = STORES[name]
    path = tmp_path / f"{name}.sqlite3"
    store.open(path).close()
    first = _rows(path)
    store.open(path).close()
    assert _rows(path) == first


@pytest.mark.parametrize("name", sorted(STORES))
def test_a_file_newer_than_the_code_is_refused_with_a_clear_error(
    name: str, tmp_path: Path
) -> None:
    store = STORES[name]
    path = tmp_path / f"{name}.sqlite3"
    _make_at_version(path, store, len(store.migrations))
    db = sqlite3.connect(path)
    db.execute(f"INSERT INTO {store.version_table} VALUES (?)", (len(store.migrations) + 1,))
    db.commit()
    db.close()
    with pytest.raises(Exception, match="newer"):
        store.open(path).close()


def test_a_version_2_menu_file_keeps_each_stations_dish_and_device_wide_category(
    tmp_path: Path,
) -> None:
    path = tmp_path / "menu.sqlite3"
    _make_at_version(path, STORES["menu"], 2)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO dishes VALUES ('s', 'rice', '米饭', 'Rice', 4.0, 0, 0)")
    db.execute("INSERT INTO bins VALUES ('s', 'station-1', 'prep', 'rice')")
    db.execute("INSERT INTO bins VALUES ('s', 'station-2', NULL, NULL)")
    db.commit()
    db.close()

    opened = menu_store.MenuStore(path)
    assert opened.schema_version == 3
    # the dish and the category set for the whole device stay what the hub pushes it
    assert opened.stations("s") == {
        "station-1": Station("station-1", "rice", WasteCategory.PREP),
        "station-2": Station("station-2"),
    }
    assert [d.slug for d in opened.dishes("s")] == ["rice"]
    opened.close()
    rows = _rows(path)
    assert rows["bins"] == []  # now one row a bin (sensor), none set yet
    assert sorted(rows["stations"]) == [
        ("s", "station-1", "rice", "prep"),
        ("s", "station-2", None, None),
    ]
