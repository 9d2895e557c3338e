"""Home Assistant MQTT discovery: cold units, waste bins, the dining-room counter and doors.

Optional, per site. From the series InfluxDB holds, it publishes one retained config per
sensor under `{prefix}/{component}/canteen_{site}_{device}_{sensor}/config`. Home Assistant
then reads the devices' own telemetry topics: a message carries a list of readings, so each
entity's `value_template` picks the latest reading of its sensor and kind, and keeps the
entity's state (`this.state`) when a message holds none of them. Availability follows the
device's retained birth / last-will status topic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from canteen.settings import MqttSettings
from protocol.topics import DEFAULT_ROOT, Channel, device_topic
from timeseries import InfluxQL
from timeseries.influx import quote_literal
from timeseries.retention import show_rows

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "homeassistant"


class DiscoveryError(RuntimeError):
    """Discovery messages that could not be published."""


@dataclass(frozen=True, slots=True)
class EntityKind:
    """How one reading kind appears in Home Assistant."""

    measurement: str
    component: str
    field: str
    name: str
    config: tuple[tuple[str, str], ...]
    binary: bool = False


KINDS = (
    EntityKind(
        "temperature",
        "sensor",
        "celsius",
        "temperature",
        (
            ("device_class", "temperature"),
            ("unit_of_measurement", "°C"),
            ("state_class", "measurement"),
        ),
    ),
    EntityKind(
        "waste",
        "sensor",
        "grams",
        "last waste drop",
        (("device_class", "weight"), ("unit_of_measurement", "g"), ("state_class", "measurement")),
    ),
    EntityKind(
        "occupancy",
        "sensor",
        "present",
        "people present",
        (
            ("unit_of_measurement", "people"),
            ("state_class", "measurement"),
            ("icon", "mdi:account-group"),
        ),
    ),
    EntityKind("door", "binary_sensor", "open", "door", (("device_class", "door"),), binary=True),
)
"""One row per reading kind shown in Home Assistant (the storage mapping's measurements)."""
_BY_MEASUREMENT = {kind.measurement: kind for kind in KINDS}


@dataclass(frozen=True, slots=True, order=True)
class Entity:
    """One sensor of one device, of one kind."""

    site: str
    device: str
    sensor: str
    measurement: str

    @property
    def kind(self) -> EntityKind:
        """Its row in KINDS."""
        return _BY_MEASUREMENT[self.measurement]

    @property
    def object_id(self) -> str:
        """`canteen_{site}_{device}_{sensor}` (the discovery topic's object id)."""
        return f"canteen_{self.site}_{self.device}_{self.sensor}"


def value_template(entity: Entity) -> str:
    """The Jinja template that finds this sensor's latest reading of its kind in a batch."""
    picks = (
        "{% set m = value_json.readings"
        f" | selectattr('sensor', 'eq', '{entity.sensor}')"
        f" | selectattr('kind', 'eq', '{entity.measurement}') | list %}}"
    )
    value = f"m[-1].{entity.kind.field}"
    if entity.kind.binary:
        return picks + f"{{{{ ('ON' if {value} else 'OFF') if m else this.state | upper }}}}"
    return picks + f"{{{{ {value} if m else this.state }}}}"


AVAILABILITY_TEMPLATE = "{{ 'online' if value_json.online else 'offline' }}"


def discovery_config(entity: Entity, root: str = DEFAULT_ROOT) -> dict[str, Any]:
    """The discovery payload for one entity."""
    kind = entity.kind
    config: dict[str, Any] = {
        "name": f"{entity.sensor} {kind.name}",
        "unique_id": f"{entity.object_id}_{entity.measurement}",
        "object_id": entity.object_id,
        "state_topic": device_topic(entity.site, entity.device, Channel.TELEMETRY, root),
        "value_template": value_template(entity),
        "availability_topic": device_topic(entity.site, entity.device, Channel.STATUS, root),
        "availability_template": AVAILABILITY_TEMPLATE,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "device": {
            "identifiers": [f"canteen_{entity.site}_{entity.device}"],
            "name": f"{entity.site} {entity.device}",
            "manufacturer": "Smart canteen",
            "model": "canteen edge agent",
        },
        **dict(kind.config),
    }
    if kind.binary:
        config.update(payload_on="ON", payload_off="OFF")
    return config


def discovery_messages(
    entities: Iterable[Entity], prefix: str = DEFAULT_PREFIX, root: str = DEFAULT_ROOT
) -> list[tuple[str, str]]:
    """(topic, JSON payload) for every entity."""
    return [
        (
            f"{prefix}/{entity.kind.component}/{entity.object_id}/config",
            json.dumps(discovery_config(entity, root), ensure_ascii=False, sort_keys=True),
        )
        for entity in sorted(set(entities))
    ]


def _parse_series_key(key: str) -> tuple[str, dict[str, str]]:
    """`temperature,device=f1,sensor=s,site=a` -> ("temperature", tags); slugs need no escapes."""
    measurement, *pairs = key.split(",")
    return measurement, dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def entities_in_influx(query: InfluxQL, site: str | None = None) -> list[Entity]:
    """Every sensor InfluxDB has seen (of a site), from its series: no data is read."""
    sources = ", ".join(f'"{kind.measurement}"' for kind in KINDS)
    where = f" WHERE site = {quote_literal(site)}" if site else ""
    found: set[Entity] = set()
    for row in show_rows(query, f"SHOW SERIES FROM {sources}{where}"):
        measurement, tags = _parse_series_key(row["key"])
        if {"site", "device", "sensor"} <= tags.keys() and measurement in _BY_MEASUREMENT:
            found.add(Entity(tags["site"], tags["device"], tags["sensor"], measurement))
    return sorted(found)


def publish_retained(settings: MqttSettings, messages: Sequence[tuple[str, str]]) -> None:
    """Publish the messages retained at QoS 1 and wait for the broker to take each."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file)
    try:
        client.connect(settings.host, settings.port)
    except OSError as err:
        raise DiscoveryError(f"cannot reach the broker at {settings.url()}: {err}") from err
    client.loop_start()
    try:
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=1, retain=True)
            info.wait_for_publish(10)
            if not info.is_published():
                raise DiscoveryError(f"the broker did not take {topic} within 10 s")
    finally:
        client.disconnect()
        client.loop_stop()
    logger.info("published %d discovery configs", len(messages))
