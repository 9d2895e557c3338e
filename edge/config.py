"""One kitchen Pi's configuration: which site and device it is, its broker, its sensors.

Loaded from one YAML file per device (see firmware_config/README.md). A sensor type
is one member of the `SensorConfig` union, one row in `SENSOR_MODELS` (where its model
lives) and one in `edge.build.SOURCE_BUILDERS` (how its source is built). A sensor entry
is validated by its own type's model, imported when a file first names that type: an
agent loads the modules of the sensor types it has and no others.
"""

from __future__ import annotations

import importlib
import operator
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticKnownError, core_schema

from canteen.settings import MqttSettings, SettingsError
from protocol import DEFAULT_ROOT, REPLAY_BATCH, is_slug

if TYPE_CHECKING:
    from edge.camera.config import PeopleCounterConfig
    from edge.drivers.alarm import AlarmConfig
    from edge.drivers.door import DoorConfig
    from edge.drivers.ds18b20 import DS18B20Config
    from edge.simulation.configs import (
        SimulatedColdUnitConfig,
        SimulatedDiningRoomConfig,
        SimulatedWasteBinConfig,
    )
    from edge.waste.station import WasteStationConfig

Clock = Callable[[], datetime]
MAX_IN_FLIGHT = 20
"""Telemetry messages the agent keeps awaiting PUBACK (each up to REPLAY_BATCH readings)."""
MIN_OUTBOX_READINGS = 2 * MAX_IN_FLIGHT * REPLAY_BATCH
KEEP_ACKED_S = 120.0
"""How long an acknowledged message is kept to send again if the broker is lost: the
broker saves what it acknowledged every 30 s (`autosave_interval`, broker/conf.d), and a
broker that lost power is noticed after 1.5 keep-alives (45 s), so 120 s covers both."""


class ConfigError(SettingsError):
    """A device configuration that cannot be used; the message names the file and field."""


def _slug(value: str) -> str:
    if not is_slug(value):
        raise ValueError(
            f"{value!r} is not a slug: use 1-63 lowercase letters, digits and dashes, "
            "starting with a letter or digit (for example fridge-1)"
        )
    return value


Slug = Annotated[str, AfterValidator(_slug)]


SENSOR_MODELS: dict[str, str] = {
    "ds18b20": "edge.drivers.ds18b20:DS18B20Config",
    "door": "edge.drivers.door:DoorConfig",
    "alarm": "edge.drivers.alarm:AlarmConfig",
    "waste_station": "edge.waste.station:WasteStationConfig",
    "people_counter": "edge.camera.config:PeopleCounterConfig",
    "simulated-cold-unit": "edge.simulation.configs:SimulatedColdUnitConfig",
    "simulated-waste-bin": "edge.simulation.configs:SimulatedWasteBinConfig",
    "simulated-dining-room": "edge.simulation.configs:SimulatedDiningRoomConfig",
}
"""Each sensor type's config model, as `module:class`, imported when first needed."""


def sensor_model(kind: str) -> type[BaseModel]:
    """Return the config model of a sensor type, importing its module."""
    module, _, name = SENSOR_MODELS[kind].partition(":")
    model: type[BaseModel] = getattr(importlib.import_module(module), name)
    return model


_NO_TYPE = object()


def _validate_sensor(value: Any) -> Any:
    """Validate one sensor entry with the model its `type` names (the discriminator)."""
    if isinstance(value, Mapping):
        kind = value.get("type", _NO_TYPE)
    elif isinstance(value, BaseModel):
        kind = getattr(value, "type", _NO_TYPE)
    else:
        raise PydanticKnownError("model_attributes_type")
    if kind is _NO_TYPE:
        raise PydanticKnownError("union_tag_not_found", {"discriminator": "'type'"})
    if not isinstance(kind, str) or kind not in SENSOR_MODELS:
        expected = ", ".join(repr(k) for k in SENSOR_MODELS)
        raise PydanticKnownError(
            "union_tag_invalid",
            {"discriminator": "'type'", "tag": str(kind), "expected_tags": expected},
        )
    return sensor_model(kind).model_validate(value)


class _ByType:
    """A sensor entry: a union discriminated by `type` whose members load on demand.

    A pydantic union needs every member's model built, which would import every driver
    module; this validates an entry with its own type's model only. Errors read as the
    union's would. The JSON schema is the full union (it imports every model).
    """

    def __get_pydantic_core_schema__(
        self, _source: Any, _handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(_validate_sensor)

    def __get_pydantic_json_schema__(
        self, _schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        members = reduce(operator.or_, (sensor_model(kind) for kind in SENSOR_MODELS))
        # A union built at run time from the table: a value to mypy, not a type.
        union = Annotated[members, Field(discriminator="type")]  # type: ignore[valid-type]
        return handler(TypeAdapter[Any](union).core_schema)


if TYPE_CHECKING:
    SensorConfig: TypeAlias = (  # explicit: the simulated members import this module back
        DS18B20Config
        | DoorConfig
        | AlarmConfig
        | WasteStationConfig
        | PeopleCounterConfig
        | SimulatedColdUnitConfig
        | SimulatedWasteBinConfig
        | SimulatedDiningRoomConfig
    )
else:
    SensorConfig = Annotated[Any, _ByType()]


def _mqtt_url(value: str) -> str:
    parts = urlsplit(value)
    shown = repr(parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl())  # no login
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as err:
        raise ValueError(f"{shown} has a bad port ({err})") from err
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"{shown} must look like mqtt://host:1883 or mqtts://host:8883")
    return value


def _topic_root(value: str) -> str:
    if not value or any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
        raise ValueError(f"{value!r} must be a plain topic level such as 'canteen'")
    return value


class EdgeConfig(BaseModel):
    """Everything one kitchen Pi needs to know to run its agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: Slug = Field(title="Site", description="The canteen's slug, e.g. site-a.")
    device: Slug = Field(title="Device", description="This Pi's slug, e.g. cold-room.")
    mqtt_url: Annotated[str, AfterValidator(_mqtt_url)] = Field(
        "mqtt://127.0.0.1:1883",
        title="Broker URL",
        description="mqtt://host:port or mqtts://host:port. CANTEEN_MQTT_URL overrides it; "
        "put a login (mqtt://user:password@host) only there, never in this file.",
    )
    mqtt_ca_file: Path | None = Field(
        None,
        title="Broker CA certificate",
        description="PEM file to verify the broker with mqtts://. CANTEEN_MQTT_CA overrides it.",
    )
    topic_root: Annotated[str, AfterValidator(_topic_root)] = Field(
        DEFAULT_ROOT, title="Topic root", description="First level of every topic."
    )
    state_dir: Path = Field(
        title="State directory",
        description="Where the outbox lives; on a Pi /var/lib/canteen-edge.",
    )
    status_interval_s: float = Field(
        60.0,
        ge=1,
        le=3600,
        title="Status interval (s)",
        description="Seconds between health status messages (backlog, CPU, disk, clock).",
    )
    replay_messages_per_s: float = Field(
        20.0,
        gt=0,
        le=1000,
        title="Message rate",
        description="Most telemetry messages a second; a backlog goes 500 readings a message.",
    )
    outbox_max_readings: int = Field(
        500_000,
        ge=MIN_OUTBOX_READINGS,
        title="Outbox size",
        description="Readings kept while the broker is away; beyond it the oldest are dropped.",
    )
    sensors: list[SensorConfig] = Field(
        min_length=1, title="Sensors", description="What this Pi reads, one entry per sensor."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> EdgeConfig:
        # A probe and a door of the same unit share its name (fridge-1); two probes may not.
        keys = [(s.type, s.name) for s in self.sensors]
        twice = sorted({name for kind, name in keys if keys.count((kind, name)) > 1})
        if twice:
            raise ValueError(f"sensor names must be unique per type on a device; repeated: {twice}")
        alarms = [s for s in self.sensors if s.type == "alarm"]
        if len(alarms) > 1:
            raise ValueError("a device has at most one alarm (it may watch several units)")
        probes = {s.name for s in self.sensors if s.type == "ds18b20"}
        for alarm in alarms:
            unknown = sorted({u.sensor for u in alarm.units} - probes)
            if unknown:
                raise ValueError(
                    f"the alarm watches {unknown}, which are not ds18b20 probes on this device: "
                    f"add the probes or correct the names (probes here: {sorted(probes) or 'none'})"
                )
        if self.mqtt_ca_file is not None and not self.mqtt_url.startswith("mqtts://"):
            raise ValueError("mqtt_ca_file is set but mqtt_url is not mqtts://: use mqtts://")
        return self

    def mqtt_settings(self) -> MqttSettings:
        """The broker settings this config names."""
        ca_file = str(self.mqtt_ca_file) if self.mqtt_ca_file else None
        return MqttSettings.from_url(self.mqtt_url, root=self.topic_root, ca_file=ca_file)


_FIXES = {
    "missing": "add it",
    "extra_forbidden": "remove it or correct its spelling (firmware_config/README.md lists "
    "the settings)",
    "union_tag_invalid": f"use one of: {', '.join(SENSOR_MODELS)}",
    "union_tag_not_found": f"add a type: one of {', '.join(SENSOR_MODELS)}",
}


def describe_errors(err: ValidationError) -> str:
    """One line per field at fault: where, what is wrong, and how to fix it."""
    lines = []
    for item in err.errors(include_url=False, include_input=False):
        # A sensor's location carries its type tag (sensors.1.simulated-cold-unit.name).
        where = ".".join(str(p) for p in item["loc"] if p not in SENSOR_MODELS)
        message = item["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(item["type"])
        lines.append(f"  {where or '(whole file)'}: {message}" + (f" - {fix}" if fix else ""))
    return "\n".join(lines)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings (site:, device:, sensors:)")
    if urlsplit(str(data.get("mqtt_url", ""))).password:
        raise ConfigError(
            f"{path}: mqtt_url carries a password - remove it and set CANTEEN_MQTT_URL "
            "(e.g. in the service's environment file) instead"
        )
    return data


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> EdgeConfig:
    """Read and validate a device's YAML file.

    CANTEEN_MQTT_URL, when set, replaces `mqtt_url` (it may carry the login), and
    CANTEEN_MQTT_CA replaces `mqtt_ca_file`.
    """
    path = Path(path)
    env = os.environ if env is None else env
    data = _read_yaml(path)
    if env.get("CANTEEN_MQTT_URL"):
        data["mqtt_url"] = env["CANTEEN_MQTT_URL"]
    if env.get("CANTEEN_MQTT_CA"):
        data["mqtt_ca_file"] = env["CANTEEN_MQTT_CA"]
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path} is not a valid device config:\n{describe_errors(err)}") from err
