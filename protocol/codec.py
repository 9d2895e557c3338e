"""Encode messages on the edge and parse them on the hub, per PROTOCOL.md v1."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from protocol.models import (
    READING,
    READING_KINDS,
    DeviceConfig,
    Reading,
    Status,
    TelemetryEnvelope,
    format_ts,
)
from protocol.topics import DeviceTopic

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_READINGS = 1000
MAX_NESTING = 64
REPLAY_BATCH = 500
FUTURE_TOLERANCE = timedelta(minutes=5)
DEFAULT_MAX_AGE = timedelta(days=30)


class ProtocolError(ValueError):
    """A message, or part of one, that is not valid PROTOCOL.md v1."""


class MessageRejected(ProtocolError):
    """A fault that rejects a whole message (bad JSON, envelope, size, topic mismatch)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _stdlib_loads(payload: bytes) -> Any:
    # Decode first, strictly: given bytes, json.loads would also take UTF-16, UTF-32 and a
    # byte order mark, which RFC 8259 forbids between systems and orjson refuses.
    return json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)


def _select_loads() -> Callable[[bytes], Any]:
    try:
        import orjson  # optional: the hub installs it, a Pi need not
    except ImportError:
        return _stdlib_loads

    def fast_loads(payload: bytes) -> Any:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            # orjson refuses integers beyond 64 bits, which are valid JSON: let the
            # standard parser decide, so such a number fails only its own reading.
            return _stdlib_loads(payload)

    return fast_loads


_loads = _select_loads()


def _nested_deeper_than(document: Any, limit: int) -> bool:
    """Tell whether arrays and objects nest more than `limit` levels (without recursing)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def load_json(payload: bytes) -> Any:
    """Decode a JSON payload strictly (RFC 8259: UTF-8, no NaN, no Infinity).

    Arrays and objects may nest at most `MAX_NESTING` levels: a v1 message needs three,
    and anything deeper would reach the recursion limits of whoever handles it next
    (re-encoding a rejected reading for the dead-letter store, for one).
    """
    try:
        document = _loads(payload)
    except (ValueError, RecursionError, TypeError) as err:
        raise MessageRejected(f"payload is not valid JSON: {err}") from err
    # Counting brackets is cheap and bounds the depth, so most messages skip the walk.
    if payload.count(b"[") + payload.count(b"{") > MAX_NESTING and isinstance(
        document, dict | list
    ):
        if _nested_deeper_than(document, MAX_NESTING):
            raise MessageRejected(f"payload nests arrays or objects over {MAX_NESTING} deep")
    return document


def describe(err: ValidationError) -> str:
    """Turn a pydantic error into one line naming each field at fault."""
    parts = []
    for item in err.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class RejectedReading:
    """One reading of a message that was not accepted, with why."""

    index: int
    reason: str
    raw: Any


@dataclass(frozen=True, slots=True)
class Telemetry:
    """A parsed telemetry message: the readings accepted and those rejected."""

    topic: DeviceTopic
    seq: int
    sent: datetime
    readings: tuple[Reading, ...]
    rejected: tuple[RejectedReading, ...]


def _check_identity(
    topic: DeviceTopic, site: str | None, device: str | None, given: set[str]
) -> None:
    # A repeated "site": null is not the topic's site either (absent is fine, null is not).
    for name, value in (("site", site), ("device", device)):
        if value is None and name in given:
            raise MessageRejected(f"payload {name} is null, not the topic's {name}")
    if site is not None and site != topic.site:
        raise MessageRejected(f"payload site {site!r} does not match topic site {topic.site!r}")
    if device is not None and device != topic.device:
        raise MessageRejected(
            f"payload device {device!r} does not match topic device {topic.device!r}"
        )


def _check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MessageRejected(
            f"payload is {len(payload)} bytes, over the limit of {MAX_PAYLOAD_BYTES}"
        )


def _reading_problem(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return "reading is not a JSON object"
    kind = raw.get("kind")
    if kind not in READING_KINDS:
        # At most 40 characters of it: the reason is logged, and a kind may be 256 KiB.
        return f"unknown kind {kind!r:.40} (known: {', '.join(READING_KINDS)})"
    return None


def parse_telemetry(
    topic: DeviceTopic,
    payload: bytes,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> Telemetry:
    """Validate a telemetry message; reject it whole or reading by reading.

    `now` is the hub's clock (aware). A reading whose `ts` lies more than five
    minutes ahead of it, or older than `max_age`, is rejected.
    """
    _check_size(payload)
    try:
        envelope = TelemetryEnvelope.model_validate(load_json(payload))
    except ValidationError as err:
        raise MessageRejected(describe(err)) from err
    _check_identity(topic, envelope.site, envelope.device, envelope.model_fields_set)
    newest, oldest = now + FUTURE_TOLERANCE, now - max_age
    accepted: list[Reading] = []
    rejected: list[RejectedReading] = []
    for index, raw in enumerate(envelope.readings):
        problem = _reading_problem(raw)
        if problem is None:
            try:
                reading = READING.validate_python(raw)
            except ValidationError as err:
                problem = describe(err)
            else:
                if reading.ts > newest:
                    problem = f"ts {format_ts(reading.ts)} is more than 5 minutes ahead of the hub"
                elif reading.ts < oldest:
                    problem = f"ts {format_ts(reading.ts)} is older than {max_age.days} days"
                else:
                    accepted.append(reading)
                    continue
        rejected.append(RejectedReading(index, problem, raw))
    return Telemetry(topic, envelope.seq, envelope.sent, tuple(accepted), tuple(rejected))


M = TypeVar("M", Status, DeviceConfig)


def _parse_device_message(model: type[M], topic: DeviceTopic, payload: bytes) -> M:
    """Validate a status or config message: size, strict JSON, the model, the identity."""
    _check_size(payload)
    try:
        message = model.model_validate(load_json(payload))
    except ValidationError as err:
        raise MessageRejected(describe(err)) from err
    _check_identity(topic, message.site, message.device, message.model_fields_set)
    return message


def parse_status(topic: DeviceTopic, payload: bytes) -> Status:
    """Validate a birth, health or last-will status message."""
    return _parse_device_message(Status, topic, payload)


def parse_config(topic: DeviceTopic, payload: bytes) -> DeviceConfig:
    """Validate a config message the hub pushed to a device."""
    return _parse_device_message(DeviceConfig, topic, payload)


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def encode_telemetry(seq: int, sent: datetime, readings: Sequence[Reading]) -> bytes:
    """Encode one telemetry message as an agent publishes it."""
    if not 1 <= len(readings) <= MAX_READINGS:
        raise ProtocolError(f"a message carries 1 to {MAX_READINGS} readings, not {len(readings)}")
    return _dump(
        {
            "v": 1,
            "seq": seq,
            "sent": format_ts(sent),
            "readings": [r.model_dump(mode="json", exclude_none=True) for r in readings],
        }
    )


def encode_status(status: Status) -> bytes:
    """Encode a status message (birth, health or last will)."""
    return _dump(status.model_dump(mode="json", exclude_none=True))


def last_will() -> bytes:
    """The retained last-will payload an agent registers before connecting."""
    return encode_status(Status(v=1, online=False))


def encode_config(config: DeviceConfig) -> bytes:
    """Encode a config message as the hub publishes it (a null field clears what it set)."""
    document = config.model_dump(mode="json")
    for name in ("site", "device"):
        if document[name] is None:
            del document[name]
    return _dump(document)
