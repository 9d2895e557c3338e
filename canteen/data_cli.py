"""`canteen retention`, `canteen backup`, `canteen restore` and `canteen ha-discovery`.

Data over years: retention policies and rollups, backups, and Home Assistant discovery.
Each reads the hub's settings as the ingest does (`--config`, `CANTEEN_*` variables).
"""

from __future__ import annotations

import argparse
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from canteen.settings import SettingsError


def _hub(args: argparse.Namespace) -> Any:
    from canteen.hub_config import ingest_settings

    return ingest_settings(args.config, state_dir=getattr(args, "state_dir", None))


def _retention_apply(args: argparse.Namespace, _stop: threading.Event) -> None:
    from timeseries import InfluxQL
    from timeseries.influx import InfluxError
    from timeseries.retention import RetentionLayout, apply_retention

    try:
        layout = RetentionLayout(args.raw_days, args.hourly_days, args.daily_days)
    except ValueError as err:
        raise SettingsError(str(err)) from err
    query = InfluxQL(_hub(args).influx)
    try:
        changes = apply_retention(query, layout)
    except InfluxError as err:
        raise SettingsError(f"cannot apply retention: {err}") from err
    finally:
        query.close()
    print("\n".join(changes) if changes else "retention already as asked: nothing changed")


def _retention_backfill(args: argparse.Namespace, _stop: threading.Event) -> None:
    from timeseries import InfluxQL
    from timeseries.influx import InfluxError
    from timeseries.retention import backfill

    end = datetime.now(UTC)
    query = InfluxQL(_hub(args).influx)
    try:
        written = backfill(query, end - timedelta(days=args.days), end)
    except InfluxError as err:
        raise SettingsError(f"cannot backfill the rollups: {err}") from err
    finally:
        query.close()
    print(f"rollups over the last {args.days} days recomputed: {written} points written")


def _backup(args: argparse.Namespace, _stop: threading.Event) -> None:
    from canteen.backup import BackupError, backup

    hub = _hub(args)
    try:
        folder = backup(args.dest, hub.state_dir, hub.influx, rpc=args.rpc)
    except BackupError as err:
        raise SettingsError(str(err)) from err
    print(f"backed up to {folder}")


def _restore(args: argparse.Namespace, _stop: threading.Event) -> None:
    from canteen.backup import BackupError, restore

    hub = _hub(args)
    try:
        manifest = restore(args.source, hub.state_dir, hub.influx, rpc=args.rpc)
    except BackupError as err:
        raise SettingsError(str(err)) from err
    print(f"restored the backup of {manifest['created']} into {hub.state_dir} and {hub.influx.url}")


def _ha_publish(args: argparse.Namespace, _stop: threading.Event) -> None:
    from canteen.ha_discovery import (
        DiscoveryError,
        discovery_messages,
        entities_in_influx,
        publish_retained,
    )
    from timeseries import InfluxQL
    from timeseries.influx import InfluxError

    hub = _hub(args)
    query = InfluxQL(hub.influx)
    try:
        entities = entities_in_influx(query, args.site)
    except InfluxError as err:
        raise SettingsError(f"cannot list the sensors: {err}") from err
    finally:
        query.close()
    messages = discovery_messages(entities, args.prefix, hub.mqtt.root)
    try:
        publish_retained(hub.mqtt, messages)
    except DiscoveryError as err:
        raise SettingsError(str(err)) from err
    print(f"published {len(messages)} Home Assistant discovery configs under {args.prefix}/")


def _common(parser: argparse.ArgumentParser, state: bool = False) -> None:
    parser.add_argument("--config", type=Path, help="hub YAML file (CANTEEN_* variables win)")
    if state:
        parser.add_argument("--state-dir", type=Path, help="where the hub keeps SQLite state")
        parser.add_argument(
            "--rpc", default="127.0.0.1:8088", help="InfluxDB 1.x RPC address (influxd backup)"
        )


def register(sub: Any) -> None:
    """Add the data-over-years subcommands."""
    retention = sub.add_parser("retention", help="raw readings for a while, rollups for years")
    actions = retention.add_subparsers(dest="action", required=True)
    apply = actions.add_parser("apply", help="create or correct the policies and rollups")
    _common(apply)
    apply.add_argument("--raw-days", type=int, default=90, help="keep raw readings (days)")
    apply.add_argument("--hourly-days", type=int, default=5 * 366, help="hourly rollups (days)")
    apply.add_argument("--daily-days", type=int, default=0, help="daily rollups (0: for ever)")
    apply.set_defaults(run=_retention_apply)
    fill = actions.add_parser("backfill", help="recompute the rollups from the raw readings")
    _common(fill)
    fill.add_argument("--days", type=int, default=30, help="how far back (default 30)")
    fill.set_defaults(run=_retention_backfill)

    make = sub.add_parser("backup", help="InfluxDB data and the hub's state into one folder")
    make.add_argument("dest", type=Path, help="folder to put the timestamped backup in")
    _common(make, state=True)
    make.set_defaults(run=_backup)
    back = sub.add_parser("restore", help="restore a backup into a fresh InfluxDB and state")
    back.add_argument("source", type=Path, help="the backup folder (canteen-backup-...)")
    _common(back, state=True)
    back.set_defaults(run=_restore)

    ha = sub.add_parser("ha-discovery", help="Home Assistant MQTT discovery configs")
    ha_actions = ha.add_subparsers(dest="action", required=True)
    publish = ha_actions.add_parser("publish", help="publish retained configs for every sensor")
    _common(publish)
    publish.add_argument("--site", help="only this site (default: every site)")
    publish.add_argument("--prefix", default="homeassistant", help="Home Assistant's prefix")
    publish.set_defaults(run=_ha_publish)
