"""Connection settings shared by every process, read from files and CANTEEN_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from protocol import DEFAULT_ROOT


class SettingsError(ValueError):
    """A setting that is missing or wrong; the message names it and says how to fix it."""


class MqttSettings(BaseModel):
    """Where the broker is and how to log in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", title="Broker host")
    port: int = Field(1883, ge=1, le=65535, title="Broker port")
    tls: bool = Field(False, title="Use TLS (mqtts://)")
    username: str | None = Field(None, title="Login name")
    password: SecretStr | None = Field(None, title="Password")
    ca_file: str | None = Field(None, title="CA certificate for TLS (PEM file)")
    root: str = Field(DEFAULT_ROOT, title="Topic root")

    @classmethod
    def from_url(cls, url: str, **extra: object) -> MqttSettings:
        """Parse `mqtt://user:pass@host:port` or `mqtts://...` (CANTEEN_MQTT_URL)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise SettingsError(
                f"CANTEEN_MQTT_URL {url!r} must start with mqtt:// or mqtts:// "
                "(for example mqtt://127.0.0.1:1883)"
            )
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as err:
            raise SettingsError(f"CANTEEN_MQTT_URL {url!r} has a bad port: {err}") from err
        password = SecretStr(unquote(parts.password)) if parts.password else None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=password,
            **extra,
        )

    def url(self) -> str:
        """The broker's address without credentials, for messages and logs."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class InfluxSettings(BaseModel):
    """Where InfluxDB is, which database, and which API to speak."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field("http://127.0.0.1:8086", title="InfluxDB base URL")
    database: str = Field("canteen", title="Database (1.x) or bucket (2.x)")
    retention_policy: str | None = Field(None, title="Retention policy (v1) / bucket suffix")
    token: SecretStr | None = Field(None, title="API token (2.x)")
    org: str = Field("canteen", title="Organisation (2.x)")
    api: Literal["auto", "v1", "v2"] = Field("auto", title="API version; auto asks /ping")
    timeout_s: float = Field(10.0, gt=0, title="HTTP timeout in seconds")


def mqtt_from_env(env: Mapping[str, str] | None = None) -> MqttSettings:
    """Read CANTEEN_MQTT_URL (default mqtt://127.0.0.1:1883) and CANTEEN_MQTT_CA."""
    env = os.environ if env is None else env
    settings = MqttSettings.from_url(env.get("CANTEEN_MQTT_URL", "mqtt://127.0.0.1:1883"))
    if env.get("CANTEEN_MQTT_CA"):
        settings = settings.model_copy(update={"ca_file": env["CANTEEN_MQTT_CA"]})
    return settings


def influx_from_env(env: Mapping[str, str] | None = None) -> InfluxSettings:
    """Read CANTEEN_INFLUX_URL, _DB, _TOKEN, _ORG and _API."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for key, name in (
        ("url", "CANTEEN_INFLUX_URL"),
        ("database", "CANTEEN_INFLUX_DB"),
        ("org", "CANTEEN_INFLUX_ORG"),
        ("api", "CANTEEN_INFLUX_API"),
    ):
        if env.get(name):
            values[key] = env[name]
    if env.get("CANTEEN_INFLUX_TOKEN"):
        values["token"] = SecretStr(env["CANTEEN_INFLUX_TOKEN"])
    try:
        return InfluxSettings.model_validate(values)
    except ValueError as err:
        raise SettingsError(f"InfluxDB settings from the environment are wrong: {err}") from err


def site_from_env(env: Mapping[str, str] | None = None) -> str:
    """Read CANTEEN_SITE (default site-a)."""
    env = os.environ if env is None else env
    return env.get("CANTEEN_SITE", "site-a")
