"""The storage mapping of PROTOCOL.md: readings and status as InfluxDB points.

One row per reading kind (`KINDS`), so a new kind is one entry. Points are encoded as
line protocol, which both the v1 `/write` endpoint and the v2 client accept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from protocol.models import (
    DoorReading,
    OccupancyReading,
    Reading,
    Status,
    TemperatureReading,
    WasteReading,
    epoch_ms,
)

FieldValue = float | int | bool | str
DATABASE = "canteen"


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point: measurement, tags, fields, time in milliseconds."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, FieldValue], ...]
    time_ms: int


@dataclass(frozen=True, slots=True)
class KindMapping:
    """How one reading kind is stored: its measurement, extra tags and fields."""

    measurement: str
    extra_tags: Callable[[Reading], dict[str, str]]
    fields: Callable[[Reading], dict[str, FieldValue]]


def _temperature(r: Reading) -> dict[str, FieldValue]:
    assert isinstance(r, TemperatureReading)  # noqa: S101  (KINDS routes by kind)
    return {"celsius": float(r.celsius)}


def _door(r: Reading) -> dict[str, FieldValue]:
    assert isinstance(r, DoorReading)  # noqa: S101
    return {"open": r.open}


def _waste(r: Reading) -> dict[str, FieldValue]:
    assert isinstance(r, WasteReading)  # noqa: S101
    return {"grams": float(r.grams)}


def _waste_tags(r: Reading) -> dict[str, str]:
    assert isinstance(r, WasteReading)  # noqa: S101
    tags = {"category": r.category.value}
    if r.dish is not None:
        tags["dish"] = r.dish
    return tags


def _occupancy(r: Reading) -> dict[str, FieldValue]:
    assert isinstance(r, OccupancyReading)  # noqa: S101
    return {"entered": r.entered, "exited": r.exited, "present": r.present}


def _no_tags(_: Reading) -> dict[str, str]:
    return {}


KINDS: dict[str, KindMapping] = {
    "temperature": KindMapping("temperature", _no_tags, _temperature),
    "door": KindMapping("door", _no_tags, _door),
    "waste": KindMapping("waste", _waste_tags, _waste),
    "occupancy": KindMapping("occupancy", _no_tags, _occupancy),
}
STATUS_MEASUREMENT = "device_status"
STATUS_FIELDS = (
    "online",
    "backlog",
    "cpu_temp_c",
    "disk_free_mb",
    "clock_synced",
    "agent",
    "outbox_dropped",
    "refused",
)


def reading_point(site: str, device: str, reading: Reading) -> Point:
    """Map one reading to its point: tags site, device, sensor (+ kind's own), time = ts."""
    mapping = KINDS[reading.kind]
    tags = {"site": site, "device": device, "sensor": reading.sensor, **mapping.extra_tags(reading)}
    fields = mapping.fields(reading)
    if reading.clock_unverified:  # stored with the value, so the temperature log can say so
        fields["clock_unverified"] = True
    return Point(
        mapping.measurement,
        tuple(sorted(tags.items())),
        tuple(fields.items()),
        epoch_ms(reading.ts),
    )


def status_point(site: str, device: str, status: Status, received: datetime) -> Point:
    """Map a status message to a `device_status` point, at its ts or the receive time."""
    values = status.model_dump(include=set(STATUS_FIELDS), exclude_none=True)
    fields: dict[str, FieldValue] = {name: values[name] for name in STATUS_FIELDS if name in values}
    for name in ("cpu_temp_c", "disk_free_mb"):
        if name in fields:
            fields[name] = float(fields[name])
    return Point(
        STATUS_MEASUREMENT,
        (("device", device), ("site", site)),
        tuple(fields.items()),
        epoch_ms(status.ts or received),
    )


# Tag keys and values are a few names and validated slugs that repeat on every line:
# remembering their escaped form saves most of the encoding (a refused text is not kept).
@lru_cache(maxsize=4096)
def _escape_key(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"line protocol cannot carry a line break in {text!r}")
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


@lru_cache(maxsize=64)
def _escape_measurement(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"line protocol cannot carry a line break in {text!r}")
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_line(point: Point) -> str:
    """Encode a point as one line of InfluxDB line protocol (millisecond precision)."""
    head = _escape_measurement(point.measurement)
    tags = "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in point.tags if v != "")
    fields = ",".join(f"{_escape_key(k)}={_field_value(v)}" for k, v in point.fields)
    return f"{head}{tags} {fields} {point.time_ms}"


def to_lines(points: Iterable[Point]) -> list[str]:
    """Encode many points."""
    return [to_line(p) for p in points]
