"""Back the hub up into one timestamped folder, and restore it into a fresh hub.

The folder holds `influxdb/` (InfluxDB's own portable backup: `influxd backup -portable`
on 1.x over its RPC port, `influx backup` on 2.x; every retention policy, rollup and shard
exactly as stored), `state/` (each SQLite file copied with SQLite's online backup API, so
a live WAL database is copied consistently, plus `secret.key`) and `manifest.json`
(versions, the database name, row counts and a SHA-256 of every file). Restore checks every
checksum first, then refuses a target that already has data rather than merge into it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import urllib3

from canteen.local_services import find_program
from canteen.settings import InfluxSettings
from timeseries import InfluxQL
from timeseries.influx import detect_api, quote_ident
from timeseries.retention import show_rows

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
STATE_DATABASES = ("alerts.sqlite3", "hub.sqlite3", "users.sqlite3")
SECRET_FILE = "secret.key"  # noqa: S105  (a file name, not a secret)
DEFAULT_RPC = "127.0.0.1:8088"


class BackupError(RuntimeError):
    """A backup or restore that could not be made (the message says why and what to do)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(command: list[str], what: str) -> None:
    logger.info("running %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-800:]
        raise BackupError(f"{what} failed ({command[0]} exited {result.returncode}): {tail}")


def _check_rpc(rpc: str) -> None:
    """Fail at once if nothing listens on the RPC address (influxd retries for minutes)."""
    host, _, port = rpc.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return
    except (OSError, ValueError) as err:
        raise BackupError(
            f"nothing answers on InfluxDB's RPC address {rpc} ({err}): enable the RPC "
            'bind-address in influxdb.conf (bind-address = "127.0.0.1:8088") or pass --rpc'
        ) from err


def server_version(settings: InfluxSettings) -> str:
    """The InfluxDB version `/ping` reports."""
    pool = urllib3.PoolManager(retries=False, timeout=settings.timeout_s)
    try:
        response = pool.request("GET", f"{settings.url.rstrip('/')}/ping")
    except urllib3.exceptions.HTTPError as err:
        raise BackupError(f"InfluxDB is not reachable at {settings.url}: {err}") from err
    finally:
        pool.clear()
    return str(response.headers.get("X-Influxdb-Version", "unknown"))


def _influx_cli(settings: InfluxSettings) -> list[str]:
    token = settings.token.get_secret_value() if settings.token else ""
    return [find_program("influx", "influxdb2-cli"), "--host", settings.url, "--token", token]


def _backup_influx(folder: Path, settings: InfluxSettings, rpc: str) -> str:
    if detect_api(settings) == "v2":
        command = [*_influx_cli(settings), "--bucket", settings.database]
        _run([command[0], "backup", *command[1:], str(folder)], "influx backup")
        return "influx backup"
    _check_rpc(rpc)
    influxd = find_program("influxd", "influxdb")
    _run(
        [influxd, "backup", "-portable", "-database", settings.database, "-host", rpc, str(folder)],
        f"influxd backup (is the RPC bind-address {rpc} enabled in influxdb.conf?)",
    )
    return "influxd backup -portable"


def _restore_influx(
    folder: Path, settings: InfluxSettings, rpc: str, manifest: dict[str, Any]
) -> None:
    tool, backed_up = manifest["tool"], manifest["database"]
    if tool == "influx backup":
        command = [*_influx_cli(settings), "--bucket", settings.database]
        _run([command[0], "restore", *command[1:], str(folder)], "influx restore")
        return
    query = InfluxQL(settings)
    try:
        databases = {row["name"] for row in show_rows(query, "SHOW DATABASES")}
    finally:
        query.close()
    if settings.database in databases:
        raise BackupError(
            f"InfluxDB at {settings.url} already has a database {settings.database!r}: restore "
            "goes into a fresh instance (if it holds nothing you need, run "
            f"DROP DATABASE {quote_ident(settings.database)} first)"
        )
    _check_rpc(rpc)
    influxd = find_program("influxd", "influxdb")
    command = [influxd, "restore", "-portable", "-db", backed_up, "-host", rpc]
    if backed_up != settings.database:
        command += ["-newdb", settings.database]
    _run([*command, str(folder)], f"influxd restore (is the RPC bind-address {rpc} enabled?)")
    query = InfluxQL(settings)
    try:
        for statement in manifest.get("continuous_queries", []):
            if backed_up == settings.database:
                query.query(statement)
            else:
                logger.warning("not restoring %s into a renamed database", statement[:60])
    finally:
        query.close()


def _copy_sqlite(source: Path, target: Path) -> dict[str, int]:
    """Copy a (possibly live) SQLite file with the online backup API; row count per table."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        (check,) = dst.execute("PRAGMA integrity_check").fetchone()
        if check != "ok":
            raise BackupError(f"the copy of {source} is not sound: {check}")
        tables = [
            name
            for (name,) in dst.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {t: int(dst.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}  # noqa: S608
    finally:
        dst.close()
        src.close()
    return counts


def _copy_secret(source: Path, target: Path) -> None:
    target.touch(mode=0o600)
    os.chmod(target, 0o600)
    target.write_bytes(source.read_bytes())


def _checksums(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        path.relative_to(folder).as_posix(): {"sha256": _sha256(path), "bytes": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def backup(dest: Path, state_dir: Path, influx: InfluxSettings, rpc: str = DEFAULT_RPC) -> Path:
    """Back everything up into a new folder under `dest`; return the folder."""
    now = datetime.now(UTC)
    folder = dest / f"canteen-backup-{now:%Y%m%dT%H%M%SZ}"
    try:
        folder.mkdir(parents=True)
    except FileExistsError as err:
        raise BackupError(f"{folder} already exists: wait a second or choose another DEST") from err
    try:
        manifest = _fill(folder, state_dir, influx, rpc)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # never leave a backup that looks whole
        raise
    manifest["created"] = now.isoformat()
    manifest["files"] = _checksums(folder)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info("backed up to %s", folder)
    return folder


def _fill(folder: Path, state_dir: Path, influx: InfluxSettings, rpc: str) -> dict[str, Any]:
    version = server_version(influx)
    tool = _backup_influx(folder / "influxdb", influx, rpc)
    query = InfluxQL(influx)
    try:  # influxd's portable backup leaves continuous queries out: keep their text here
        continuous = [
            row["query"]
            for row in show_rows(query, "SHOW CONTINUOUS QUERIES")
            if row["series"] == influx.database and tool.startswith("influxd")
        ]
    finally:
        query.close()
    (folder / "state").mkdir()
    tables: dict[str, dict[str, int]] = {}
    for name in STATE_DATABASES:
        if (state_dir / name).exists():
            tables[name] = _copy_sqlite(state_dir / name, folder / "state" / name)
    if (state_dir / SECRET_FILE).exists():
        _copy_secret(state_dir / SECRET_FILE, folder / "state" / SECRET_FILE)
    return {
        "format": FORMAT,
        "canteen": metadata.version("smart-canteen"),
        "sqlite": sqlite3.sqlite_version,
        "influxdb": {
            "version": version,
            "database": influx.database,
            "tool": tool,
            "continuous_queries": continuous,
        },
        "state": tables,
    }


def verify(folder: Path) -> dict[str, Any]:
    """The backup's manifest, once every file's checksum matched."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BackupError(f"{folder} is not a canteen backup (no readable {MANIFEST})") from err
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder}: backup format {manifest.get('format')} is not {FORMAT}")
    found = _checksums(folder)
    for name, expected in manifest["files"].items():
        if name not in found:
            raise BackupError(f"{folder}: {name} is missing")
        if found[name]["sha256"] != expected["sha256"]:
            raise BackupError(f"{folder}: {name} does not match its checksum (damaged copy?)")
    return manifest


def restore(
    source: Path, state_dir: Path, influx: InfluxSettings, rpc: str = DEFAULT_RPC
) -> dict[str, Any]:
    """Restore a backup into a fresh InfluxDB and an empty state folder; return its manifest."""
    manifest = verify(source)
    if manifest["influxdb"]["database"] != influx.database:
        logger.warning(
            "the backup is of database %s; restoring it as %s",
            manifest["influxdb"]["database"],
            influx.database,
        )
    names = [*manifest["state"], SECRET_FILE]
    taken = [name for name in names if (state_dir / name).exists()]
    if taken:
        raise BackupError(
            f"{state_dir} already holds {', '.join(taken)}: restore goes into an empty state "
            "folder (stop the hub and move those files away first)"
        )
    _restore_influx(source / "influxdb", influx, rpc, manifest["influxdb"])
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in manifest["state"]:
        _copy_sqlite(source / "state" / name, state_dir / name)
    if (source / "state" / SECRET_FILE).exists():
        _copy_secret(source / "state" / SECRET_FILE, state_dir / SECRET_FILE)
    logger.info("restored %s into %s and %s", source, state_dir, influx.url)
    return manifest
