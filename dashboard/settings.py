"""The dashboard's settings: where its data comes from, where it listens, what it shows."""

from __future__ import annotations

import os
import re
from datetime import datetime, time, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alerts.settings import AlertSettings
from canteen.cold_units import UnitKind
from canteen.settings import InfluxSettings, MqttSettings
from protocol import WasteCategory

Language = Literal["en", "zh-CN"]
Environment = Literal["local", "production"]
PLACEHOLDERS = ("changeme", "change-me", "change_me", "secret", "password", "example", "default")
MAKE_A_KEY = (
    "make a real one with `openssl rand -hex 32`, or leave CANTEEN_SECRET_KEY unset and the "
    "hub generates one in its state folder at first start"
)


class DashboardSettings(BaseModel):
    """Everything `canteen dashboard` needs; see hub.example.yaml's `dashboard:` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt: MqttSettings = Field(default_factory=MqttSettings, title="Broker to watch")
    influx: InfluxSettings = Field(default_factory=InfluxSettings, title="Where history is")
    host: str = Field("127.0.0.1", title="Address to listen on (0.0.0.0 for the kitchen LAN)")
    port: int = Field(8080, ge=1, le=65535, title="Port to listen on")
    default_site: str = Field("site-a", title="Site shown at /")
    language: Language = Field("en", title="Default language of the screens")
    timezone: str | None = Field(
        None, title="IANA time zone of the kitchen (Asia/Shanghai); default: this machine's"
    )
    dining_capacity: int = Field(120, gt=0, title="Seats in the dining room")
    waste_target_g: float = Field(60_000, gt=0, title="Today's waste target for a site, grams")
    sparkline_hours: float = Field(6, gt=0, le=48, title="Hours of history in a tile's chart")
    stale_after_s: float = Field(
        1800, gt=0, title="A unit with no reading for this long is shown as silent"
    )
    cold_units: dict[str, UnitKind] = Field(
        default_factory=dict,
        title="Kind of each probe (fridge, freezer, hot-holding) by sensor name",
        description="A probe not listed is a freezer if its name says so, else a fridge.",
    )
    mqtt_client_id: str = Field("canteen-dashboard", title="MQTT client id")
    state_dir: Path = Field(Path("var"), title="Where the hub keeps SQLite state and its key")
    secret_key: SecretStr | None = Field(
        None,
        title="Key that signs links (CANTEEN_SECRET_KEY)",
        description="Unset: one is generated at first start and kept in the state folder.",
    )
    environment: Environment = Field(
        "local",
        title="Where this hub runs (CANTEEN_ENV): local development or production",
        description="production refuses a placeholder or short secret_key; the access rules "
        "are the same in both.",
    )
    session_hours: float = Field(
        12, gt=0, le=24 * 30, title="Hours a sign-in lasts (a kitchen shift, by default)"
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings, title="Food-safety alerts")
    rollup_warm_days: int = Field(
        180,
        ge=0,
        le=3660,
        title="Days of waste rollups kept ready for reports (0: roll up when asked)",
        description="Rolled up soon after start and every hour, so a 90-day report and its "
        "baseline answer from SQLite in well under a second.",
    )
    haccp_check_times: list[time] = Field(
        default_factory=lambda: [time(8, 0), time(14, 0)],
        title="Check times of the HACCP temperature log (kitchen time, 'HH:MM')",
        description="The log shows each unit's last reading at or before each time, no older "
        "than 15 minutes. Quote them in YAML: unquoted, 14:00 reads as the number 840.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as err:
                raise ValueError(f"unknown time zone {value!r} (use e.g. Asia/Shanghai)") from err
        return value

    @field_validator("haccp_check_times", mode="before")
    @classmethod
    def _times_of_day(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else []:
            if isinstance(item, int | float):
                raise ValueError(
                    f"{item} is not a time of day: quote check times ('14:00'); "
                    "unquoted, YAML reads 14:00 as the number 840"
                )
            if isinstance(item, str) and not re.fullmatch(r"\d\d:\d\d(:\d\d)?", item):
                raise ValueError(f"{item!r} is not a kitchen time of day like '08:00'")
        return value

    @model_validator(mode="after")
    def _real_secret_in_production(self) -> DashboardSettings:
        if self.environment == "production" and self.secret_key is not None:
            problem = weak_secret(self.secret_key.get_secret_value())
            if problem:
                raise ValueError(
                    f"secret_key (CANTEEN_SECRET_KEY) {problem}, which production "
                    f"(CANTEEN_ENV=production) refuses: {MAKE_A_KEY}"
                )
        return self

    def zone_name(self) -> str | None:
        """The kitchen's IANA zone name, so screens show the kitchen's time, not their own."""
        if self.timezone is not None:
            return self.timezone
        return system_zone_name()

    def tz(self) -> tzinfo:
        """The kitchen's time zone, which decides when 'today' starts."""
        if self.timezone is not None:
            return ZoneInfo(self.timezone)
        local = datetime.now().astimezone().tzinfo
        assert local is not None  # noqa: S101  (astimezone always sets one)
        return local


def weak_secret(value: str) -> str | None:
    """What makes a key a placeholder rather than a secret, or None if it looks random."""
    if len(value) < 32:
        return f"is {len(value)} characters long, shorter than 32"
    lowered = value.lower()
    for word in PLACEHOLDERS:
        if word in lowered:
            return f"contains the placeholder word {word!r}"
    if len(set(value)) < 10:
        return "repeats too few characters to be random"
    return None


def system_zone_name() -> str | None:
    """This machine's IANA zone (TZ, else /etc/localtime's link), or None if unknown."""
    named = os.environ.get("TZ", "").removeprefix(":")
    if named and "/" in named and not named.startswith("/"):
        return named
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return None
    _, found, name = target.partition("zoneinfo/")
    return name if found else None


WASTE_CATEGORIES = tuple(category.value for category in WasteCategory)
