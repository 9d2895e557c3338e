"""Payload models of PROTOCOL.md v1: readings, telemetry envelopes and device status.

The models are strict where the protocol is strict: a number is a JSON number (an
integer is fine for a float, but never a boolean or a string), an integer is a JSON
integer, no NaN or infinity, timestamps are RFC 3339 with a zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
)

from protocol.topics import SLUG_PATTERN

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
INT64_MAX = 2**63 - 1
MAX_GRAMS_PER_DROP = 1_000_000.0  # one tonne: nothing heavier is one drop into a bin

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


def format_ts(moment: datetime) -> str:
    """Format an aware datetime as the agents send it: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 date-time with `Z` or a numeric offset; refuse anything else."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 date-time with Z or an offset, as a string")
    day, clock, fraction, zone = match.groups()
    # Python parses at most microseconds: keep six fractional digits.
    micro = (fraction or "")[:6].ljust(6, "0")
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}.{micro}{zone}")
        # Years 1 and 9999 with an offset overflow in UTC: an OverflowError would escape
        # validation (pydantic turns only ValueError into a validation error).
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"is not a real date and time ({err})") from err


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, exact (no float rounding)."""
    return (moment - EPOCH) // ONE_MS


def _require_number(value: Any) -> Any:
    if type(value) not in (int, float):
        raise ValueError("must be a JSON number")
    return value


def _require_integer(value: Any) -> Any:
    if type(value) is not int:
        raise ValueError("must be a JSON integer")
    return value


def _require_version_1(value: Any) -> Any:
    if type(value) is not int or value != 1:
        raise ValueError("must be the JSON integer 1")
    return value


def _timestamp(value: Any) -> Any:
    return value if isinstance(value, datetime) else parse_ts(value)


Slug = Annotated[str, StringConstraints(pattern=f"^{SLUG_PATTERN}$")]
Number = Annotated[float, BeforeValidator(_require_number), Field(allow_inf_nan=False)]
Count = Annotated[int, BeforeValidator(_require_integer), Field(ge=0, le=INT64_MAX)]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    PlainSerializer(format_ts, return_type=str, when_used="json"),
]
Version1 = Annotated[Literal[1], BeforeValidator(_require_version_1)]


class WasteCategory(StrEnum):
    """Where a bin's waste comes from."""

    PLATE = "plate"
    PREP = "prep"
    SPOILAGE = "spoilage"
    OVERPRODUCTION = "overproduction"


class _Reading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sensor: Slug
    ts: Timestamp
    clock_unverified: Annotated[bool, Field(strict=True)] | None = None
    """True when `ts` comes from a boot whose clock was never set by NTP (a Pi without a
    battery clock that lost power before it synced): the date may be wrong, and is kept
    as it was, marked, rather than guessed."""


class TemperatureReading(_Reading):
    """A probe's temperature."""

    kind: Literal["temperature"] = "temperature"
    celsius: Annotated[Number, Field(ge=-60, le=150)]


class DoorReading(_Reading):
    """A cold unit's door: open or closed."""

    kind: Literal["door"] = "door"
    open: Annotated[bool, Field(strict=True)]


class WasteReading(_Reading):
    """One drop of food waste into a bin."""

    kind: Literal["waste"] = "waste"
    grams: Annotated[Number, Field(gt=0, le=MAX_GRAMS_PER_DROP)]
    category: WasteCategory
    dish: Slug | None = None


class OccupancyReading(_Reading):
    """People through the dining-room door since the previous reading, and present now."""

    kind: Literal["occupancy"] = "occupancy"
    entered: Count
    exited: Count
    present: Count


Reading = Annotated[
    TemperatureReading | DoorReading | WasteReading | OccupancyReading,
    Field(discriminator="kind"),
]
READING = TypeAdapter[Reading](Reading)
READING_KINDS = ("temperature", "door", "waste", "occupancy")


class TelemetryEnvelope(BaseModel):
    """A telemetry message with its readings not yet validated one by one."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Version1
    seq: Annotated[int, BeforeValidator(_require_integer), Field(gt=0, le=INT64_MAX)]
    sent: Timestamp
    readings: Annotated[list[Any], Field(max_length=1000)]
    site: Slug | None = None
    device: Slug | None = None


class DeviceConfig(BaseModel):
    """Settings the hub pushes to one device (retained on its config topic)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Version1
    dish: Slug | None = None
    """The dish being served now; null or absent: the station's own menu file or config."""
    category: WasteCategory | None = None
    """The category of every bin not in `categories`; null or absent: each bin's own config."""
    categories: Annotated[dict[Slug, WasteCategory], Field(max_length=64)] | None = None
    """Each bin's category by its sensor slug, set in the hub's menu; a bin absent: `category`."""
    site: Slug | None = None
    device: Slug | None = None

    def category_of(self, sensor: str) -> WasteCategory | None:
        """The category the hub set for one bin (None: the bin's own config)."""
        return (self.categories or {}).get(sensor, self.category)


class Status(BaseModel):
    """A device's birth, health or last-will message."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Version1
    online: Annotated[bool, Field(strict=True)]
    ts: Timestamp | None = None
    agent: Annotated[str, StringConstraints(max_length=64)] | None = None
    sensors: list[Slug] | None = None
    backlog: Count | None = None
    cpu_temp_c: Number | None = None
    disk_free_mb: Number | None = None
    clock_synced: Annotated[bool, Field(strict=True)] | None = None
    faults: list[Slug] | None = None
    """Sensors whose driver is failing now (a probe unplugged or failing its CRC)."""
    outbox_dropped: Count | None = None
    """Readings the device's full outbox had to drop, since it was installed."""
    refused: Count | None = None
    """Publishes the broker refused (PUBACK reason code, e.g. 0x87 not authorised) since the
    agent started: a device whose login or ACL is wrong says so here."""
    site: Slug | None = None
    device: Slug | None = None
