"""Backup and restore: a round trip from a filled hub into a fresh InfluxDB and state folder."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from alerts.kinds import AlertKey, AlertKind, Severity
from alerts.service import load_secret_key
from alerts.store import AlertStore
from canteen.backup import BackupError, backup, restore, verify
from canteen.local_services import LocalInfluxDB
from canteen.settings import InfluxSettings
from dashboard.users import UserStore
from ingest.deadletters import DeadLetterStore
from ingest.pipeline import DeadLetter
from timeseries import InfluxQL
from timeseries.influx import V1LineWriter
from timeseries.retention import apply_retention, backfill, show_rows

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def _fill_influx(settings: InfluxSettings) -> None:
    query = InfluxQL(settings)
    apply_retention(query)
    start = int((NOW - timedelta(days=2)).timestamp() * 1000)
    lines = []
    for i in range(500):
        ms = start + i * 300_000
        lines.append(f"temperature,device=f1,sensor=fridge-1,site=s celsius={3 + i % 7 / 10} {ms}")
        lines.append(
            f"waste,category=plate,device=w1,dish=rice,sensor=bin,site=s grams={i + 0.5} {ms}"
        )
        lines.append(
            f"door,device=f1,sensor=fridge-1,site=s open={'true' if i % 2 else 'false'} {ms}"
        )
        lines.append(
            f"occupancy,device=e1,sensor=dining,site=s entered={i % 4}i,exited=1i,present={i}i {ms}"
        )
        lines.append(f'device_status,device=f1,site=s online=true,agent="1.4.0",backlog={i}i {ms}')
    writer = V1LineWriter(settings)
    writer.write(lines)
    writer.close()
    backfill(query, NOW - timedelta(days=3), NOW)
    query.close()


def _fill_state(state: Path) -> None:
    alerts = AlertStore(state / "alerts.sqlite3")
    key = AlertKey("s", "f1", "fridge-1", AlertKind.TEMPERATURE)
    alert = alerts.open(key, Severity.CRITICAL, NOW - timedelta(minutes=20), 9.5, NOW)
    alerts.acknowledge(alert.id, "li", NOW)
    alerts.queue_delivery(alert.id, "duty", "alert", NOW)
    alerts.save_rule_state({"s/f1": {"warm_since": NOW.isoformat()}})
    alerts.close()  # left open below: the backup copies a live WAL database
    users = UserStore(
        state / "users.sqlite3", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    users.add("li", "manager", "correct horse battery", NOW)
    users.add_kiosk("s", "kitchen wall", NOW)
    users.close()
    letters = DeadLetterStore(state / "hub.sqlite3")
    letters.add([DeadLetter(NOW, "canteen/s/f1/telemetry", "bad JSON", b"{nope")])
    letters.close()
    load_secret_key(state, None)


def _influx_snapshot(settings: InfluxSettings) -> dict[str, list[dict[str, Any]]]:
    query = InfluxQL(settings)
    snapshot: dict[str, list[dict[str, Any]]] = {}
    for policy in (row["name"] for row in query.rows("SHOW RETENTION POLICIES")):
        for measurement in (row["name"] for row in query.rows("SHOW MEASUREMENTS")):
            rows = query.rows(f'SELECT * FROM "{policy}"."{measurement}"')  # noqa: S608
            if rows:
                snapshot[f"{policy}.{measurement}"] = rows
    snapshot["policies"] = query.rows("SHOW RETENTION POLICIES")
    snapshot["continuous queries"] = [
        row
        for row in show_rows(query, "SHOW CONTINUOUS QUERIES")
        if row["series"] == settings.database
    ]
    query.close()
    return snapshot


def _state_snapshot(state: Path) -> dict[str, Any]:
    snapshot: dict[str, Any] = {"secret": (state / "secret.key").read_bytes()}
    for path in sorted(state.glob("*.sqlite3")):
        db = sqlite3.connect(path)
        tables = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            snapshot[f"{path.name}:{table}"] = db.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
        db.close()
    return snapshot


def test_round_trip_into_a_fresh_instance(
    influxdb: LocalInfluxDB, v1_influx: InfluxSettings, tmp_path: Path
) -> None:
    _fill_influx(v1_influx)
    state = tmp_path / "state"
    _fill_state(state)
    live = AlertStore(state / "alerts.sqlite3")  # a hub still running while it is backed up
    before_influx = _influx_snapshot(v1_influx)
    before_state = _state_snapshot(state)
    assert len(before_influx) >= 10

    folder = backup(tmp_path / "backups", state, v1_influx, rpc=f"127.0.0.1:{influxdb.rpc_port}")
    live.close()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["influxdb"]["version"].startswith("1.6")
    assert manifest["state"]["alerts.sqlite3"]["alerts"] == 1
    assert "state/secret.key" in manifest["files"]
    assert (folder / "state" / "secret.key").stat().st_mode & 0o777 == 0o600

    fresh = LocalInfluxDB(tmp_path / "fresh-influx")
    fresh.start()
    try:
        target = InfluxSettings(url=fresh.url, database=v1_influx.database)
        restored_state = tmp_path / "fresh-state"
        restore(folder, restored_state, target, rpc=f"127.0.0.1:{fresh.rpc_port}")
        assert _influx_snapshot(target) == before_influx
        assert _state_snapshot(restored_state) == before_state
        assert AlertStore(restored_state / "alerts.sqlite3").get(1).acknowledged_by == "li"
        with pytest.raises(BackupError, match="already holds"):
            restore(folder, restored_state, target, rpc=f"127.0.0.1:{fresh.rpc_port}")
        with pytest.raises(BackupError, match="already has a database"):
            restore(folder, tmp_path / "other", target, rpc=f"127.0.0.1:{fresh.rpc_port}")
    finally:
        fresh.stop()


def test_a_damaged_backup_is_refused_before_anything_is_restored(
    influxdb: LocalInfluxDB, v1_influx: InfluxSettings, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    _fill_state(state)
    _fill_influx(v1_influx)
    folder = backup(tmp_path, state, v1_influx, rpc=f"127.0.0.1:{influxdb.rpc_port}")
    with (folder / "state" / "users.sqlite3").open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00garbage")
    with pytest.raises(BackupError, match=r"users\.sqlite3 does not match"):
        verify(folder)
    with pytest.raises(BackupError, match="checksum"):
        restore(folder, tmp_path / "new", v1_influx)
    assert not (tmp_path / "new").exists()


def test_a_failed_influx_backup_leaves_no_folder(v1_influx: InfluxSettings, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="RPC address"):
        backup(tmp_path, tmp_path, v1_influx, rpc="127.0.0.1:1")
    assert list(tmp_path.iterdir()) == []
