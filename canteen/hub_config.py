"""The hub's configuration: an optional YAML file, overridden by CANTEEN_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from canteen.settings import (
    InfluxSettings,
    MqttSettings,
    SettingsError,
    influx_from_env,
)
from protocol.codec import describe

if TYPE_CHECKING:
    from dashboard.settings import DashboardSettings
    from ingest.app import IngestSettings


class HubFile(BaseModel):
    """What a hub YAML file may hold (see hub.example.yaml)."""

    model_config = ConfigDict(extra="forbid")

    mqtt_url: str | None = Field(None, title="Broker URL, mqtt:// or mqtts://")
    mqtt_ca_file: str | None = Field(None, title="CA certificate for mqtts://")
    influx: dict[str, Any] = Field(default_factory=dict, title="InfluxDB settings")
    state_dir: Path | None = Field(None, title="Where the hub keeps SQLite state")
    ingest: dict[str, Any] = Field(default_factory=dict, title="Ingest tuning")
    dashboard: dict[str, Any] = Field(default_factory=dict, title="Dashboard settings")
    alerts: dict[str, Any] = Field(default_factory=dict, title="Food-safety alerts and who is told")


def _read_file(path: Path | None) -> HubFile:
    if path is None:
        return HubFile()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return HubFile.model_validate(document)
    except OSError as err:
        raise SettingsError(f"cannot read the hub config {path}: {err}") from err
    except yaml.YAMLError as err:
        raise SettingsError(f"the hub config {path} is not valid YAML: {err}") from err
    except ValidationError as err:
        raise SettingsError(f"the hub config {path} is not valid: {describe(err)}") from err


def _mqtt(hub: HubFile, env: Mapping[str, str]) -> MqttSettings:
    url = env.get("CANTEEN_MQTT_URL") or hub.mqtt_url or "mqtt://127.0.0.1:1883"
    ca_file = env.get("CANTEEN_MQTT_CA") or hub.mqtt_ca_file
    return MqttSettings.from_url(url, ca_file=ca_file)


def _influx(hub: HubFile, env: Mapping[str, str]) -> InfluxSettings:
    from_env = influx_from_env(env).model_dump(exclude_unset=True)
    try:
        return InfluxSettings.model_validate({**hub.influx, **from_env})
    except ValidationError as err:
        raise SettingsError(f"InfluxDB settings are not valid: {describe(err)}") from err


def _state_dir(hub: HubFile, env: Mapping[str, str], override: Path | None) -> Path:
    if override is not None:
        return override
    if env.get("CANTEEN_STATE_DIR"):
        return Path(env["CANTEEN_STATE_DIR"])
    return hub.state_dir or Path("var")


def ingest_settings(
    path: Path | None, state_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> IngestSettings:
    """Build the ingest's settings."""
    from ingest.app import IngestSettings

    env = os.environ if env is None else env
    hub = _read_file(path)
    try:
        return IngestSettings(
            mqtt=_mqtt(hub, env),
            influx=_influx(hub, env),
            state_dir=_state_dir(hub, env, state_dir),
            **hub.ingest,
        )
    except ValidationError as err:
        raise SettingsError(f"ingest settings are not valid: {describe(err)}") from err


def dashboard_settings(
    path: Path | None,
    host: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> DashboardSettings:
    """Build the dashboard's settings."""
    from dashboard.settings import DashboardSettings

    env = os.environ if env is None else env
    hub = _read_file(path)
    values: dict[str, Any] = dict(hub.dashboard)
    if env.get("CANTEEN_SITE"):
        values["default_site"] = env["CANTEEN_SITE"]
    if env.get("CANTEEN_LANG"):
        values["language"] = env["CANTEEN_LANG"]
    if host is not None:
        values["host"] = host
    if port is not None:
        values["port"] = port
    if env.get("CANTEEN_SECRET_KEY"):
        values["secret_key"] = env["CANTEEN_SECRET_KEY"]
    if env.get("CANTEEN_ENV"):
        values["environment"] = env["CANTEEN_ENV"]
    values["state_dir"] = _state_dir(hub, env, None)
    alerts = dict(hub.alerts)
    if env.get("CANTEEN_PUBLIC_URL"):
        alerts["public_url"] = env["CANTEEN_PUBLIC_URL"]
    values["alerts"] = alerts
    try:
        return DashboardSettings(mqtt=_mqtt(hub, env), influx=_influx(hub, env), **values)
    except ValidationError as err:
        raise SettingsError(f"dashboard settings are not valid: {describe(err)}") from err
