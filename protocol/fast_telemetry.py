"""A fast path for the everyday telemetry message, with the same result as the models.

Nearly every message the hub receives is well formed: a v1 envelope whose readings are
all valid, with timestamps in the agents' own format (`2026-12-01T08:30:00.123Z`).
For such a message `fast_telemetry` returns the same line-protocol lines, `seq` and
`sent` that `parse_telemetry` followed by `reading_point` and `to_line` give, at a
fraction of the cost (no pydantic models, no `Point`). For anything else (a field
missing or of another type, a value out of range, a reading to reject, a timestamp in
another RFC 3339 spelling) it returns None, and the caller takes the full path, which
also words the error. It never rejects anything itself, so it cannot be stricter than
the models; `tests/protocol/test_fast_telemetry.py` checks that it is never looser.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, TypeGuard

from protocol.codec import (
    DEFAULT_MAX_AGE,
    FUTURE_TOLERANCE,
    MAX_NESTING,
    MAX_PAYLOAD_BYTES,
    MAX_READINGS,
    _loads,
    _nested_deeper_than,
)
from protocol.models import EPOCH, INT64_MAX, MAX_GRAMS_PER_DROP, WasteCategory
from protocol.storage import KINDS, _escape_key, _escape_measurement
from protocol.topics import DeviceTopic, is_slug

_AGENT_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_ONE_MS = timedelta(milliseconds=1)
_CATEGORIES = frozenset(c.value for c in WasteCategory)
_NUMBER = (int, float)
_CACHE_MAX = 4096


class FastTelemetry(NamedTuple):
    """What a telemetry message yields when every reading in it is valid."""

    seq: int
    sent_ms: int
    """When the agent sent the message, in milliseconds since the epoch."""
    lines: list[str]


_MILLIS = {f"{n:03d}": n for n in range(1000)}
_second_ms: dict[str, int] = {}
"""Milliseconds since the epoch of each second seen ("2026-12-01T08:30:00"), valid ones only."""


def _parse_second(second: str) -> int | None:
    if _AGENT_SECOND.fullmatch(second) is None or second[17:19] > "59":
        return None  # a leap second (":60"): Python's parser, and so the models, refuse it
    try:
        ms = (datetime.fromisoformat(second + "+00:00") - EPOCH) // _ONE_MS
    except ValueError:  # not a real date or time (month 13, hour 24), or year 0
        return None
    if len(_second_ms) >= _CACHE_MAX:
        _second_ms.clear()
    _second_ms[second] = ms
    return ms


def _agent_ts_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of a timestamp in the agents' format, else None.

    The readings of a backlog, or of many devices, share their second: it is parsed once
    and looked up after that, and only the milliseconds are read for each reading.
    """
    if type(value) is not str or len(value) != 24 or value[19] != "." or value[23] != "Z":
        return None
    millis = _MILLIS.get(value[20:23])  # "000".."999" only: no other script's digits
    if millis is None:
        return None
    second = _second_ms.get(value[:19])
    if second is None:
        second = _parse_second(value[:19])
        if second is None:
            return None
    return second + millis


def _slug(value: Any) -> TypeGuard[str]:
    # Checked only when a series head is not remembered yet: the heads are the cache.
    return type(value) is str and is_slug(value)


def _make_head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """The measurement and tags of a line, escaped and ordered exactly as `to_line` does."""
    escaped = "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in sorted(tags))
    return f"{_escape_measurement(measurement)}{escaped} "


_heads: dict[tuple[str | None, ...], str] = {}
"""The head of each series seen, keyed by its measurement and tag values (valid ones only)."""


def _remember_head(key: tuple[str | None, ...], head: str) -> str:
    if len(_heads) >= _CACHE_MAX:
        _heads.clear()
    _heads[key] = head
    return head


def _sensor_head(measurement: str, site: str, device: str, sensor: str) -> str | None:
    """The head of a kind tagged site, device and sensor only; None if `sensor` is no slug."""
    head = _heads.get((measurement, site, device, sensor))
    if head is not None:
        return head
    if not _slug(sensor):
        return None
    tags = (("site", site), ("device", device), ("sensor", sensor))
    return _remember_head((measurement, site, device, sensor), _make_head(measurement, tags))


def _number_in(value: Any, low: float, high: float, low_open: bool = False) -> TypeGuard[float]:
    # NaN fails every comparison and infinities are beyond any bound: no isfinite needed.
    if type(value) not in _NUMBER:
        return False
    above = low < value if low_open else low <= value
    return bool(above and value <= high)


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= INT64_MAX


# One function a kind: (reading, site, device, sensor) -> "measurement,tags fields", or None
# when the models might see it otherwise. Tags as `reading_point` makes them. `sensor` is a
# str here; the head lookups check it is a slug.
def _temperature(raw: dict[str, Any], site: str, device: str, sensor: str) -> str | None:
    celsius = raw.get("celsius")
    if not _number_in(celsius, -60, 150):
        return None
    head = _sensor_head("temperature", site, device, sensor)
    if head is None:
        return None
    return f"{head}celsius={float(celsius)!r}"


def _door(raw: dict[str, Any], site: str, device: str, sensor: str) -> str | None:
    is_open = raw.get("open")
    if type(is_open) is not bool:
        return None
    head = _sensor_head("door", site, device, sensor)
    if head is None:
        return None
    return f"{head}open=true" if is_open else f"{head}open=false"


def _waste(raw: dict[str, Any], site: str, device: str, sensor: str) -> str | None:
    grams, category, dish = raw.get("grams"), raw.get("category"), raw.get("dish")
    if not _number_in(grams, 0, MAX_GRAMS_PER_DROP, low_open=True):
        return None
    if type(category) is not str or category not in _CATEGORIES:
        return None
    if dish is not None and type(dish) is not str:
        return None
    key = ("waste", site, device, sensor, category, dish)
    head = _heads.get(key)
    if head is None:
        if not _slug(sensor) or (dish is not None and not _slug(dish)):
            return None
        tags: tuple[tuple[str, str], ...] = (
            ("site", site),
            ("device", device),
            ("sensor", sensor),
            ("category", category),
        )
        if dish is not None:
            tags += (("dish", dish),)
        head = _remember_head(key, _make_head("waste", tags))
    return f"{head}grams={float(grams)!r}"


def _occupancy(raw: dict[str, Any], site: str, device: str, sensor: str) -> str | None:
    entered, exited, present = raw.get("entered"), raw.get("exited"), raw.get("present")
    if not (_count(entered) and _count(exited) and _count(present)):
        return None
    head = _sensor_head("occupancy", site, device, sensor)
    if head is None:
        return None
    return f"{head}entered={entered}i,exited={exited}i,present={present}i"


_ENCODERS = {
    "temperature": _temperature,
    "door": _door,
    "waste": _waste,
    "occupancy": _occupancy,
}
assert _ENCODERS.keys() == KINDS.keys()  # noqa: S101  (a new kind needs its fast encoder)
assert all(KINDS[k].measurement == k for k in KINDS)  # noqa: S101  (the heads above)


def _line(site: str, device: str, raw: Any, newest_ms: int, oldest_ms: int) -> str | None:
    if type(raw) is not dict:
        return None
    get = raw.get
    kind, sensor = get("kind"), get("sensor")
    encode = _ENCODERS.get(kind) if type(kind) is str else None
    if encode is None or type(sensor) is not str:
        return None
    ts_ms = _agent_ts_ms(get("ts"))
    if ts_ms is None or not oldest_ms <= ts_ms <= newest_ms:
        return None
    unverified = get("clock_unverified")
    if unverified is not None and type(unverified) is not bool:
        return None
    body = encode(raw, site, device, sensor)
    if body is None:
        return None
    if unverified:
        return f"{body},clock_unverified=true {ts_ms}"
    return f"{body} {ts_ms}"


@lru_cache(maxsize=4)
def _bounds_ms(now: datetime, max_age: timedelta) -> tuple[int, int]:
    """The newest and oldest reading times accepted, in ms (a batch shares its `now`).

    A ts has whole milliseconds: it is at most `newest` exactly when its ms are at most
    floor(newest in ms), and at least `oldest` exactly when they are at least ceil(...).
    """
    newest_ms = (now + FUTURE_TOLERANCE - EPOCH) // _ONE_MS
    oldest_ms = -((EPOCH - (now - max_age)) // _ONE_MS)
    return newest_ms, oldest_ms


def fast_telemetry(
    topic: DeviceTopic,
    payload: bytes,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> FastTelemetry | None:
    """The lines of a telemetry message whose readings are all valid, or None.

    None means "take the full path" (`parse_telemetry`): the message may be valid in a
    spelling this path does not read, or it has something to reject.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        document = _loads(payload)
    except (ValueError, RecursionError, TypeError):
        return None
    if type(document) is not dict:
        return None
    version, seq, readings = document.get("v"), document.get("seq"), document.get("readings")
    if type(version) is not int or version != 1 or type(seq) is not int:
        return None
    if not 0 < seq <= INT64_MAX or type(readings) is not list or len(readings) > MAX_READINGS:
        return None
    sent_ms = _agent_ts_ms(document.get("sent"))
    if sent_ms is None:
        return None
    # The models refuse documents nested over MAX_NESTING deep. Every object and array
    # shows as a "{" or "[" byte: exactly the envelope's, the list's and one per reading
    # means nothing else nests (the readings are checked to be objects below).
    brackets = payload.count(b"{") + payload.count(b"[")
    if brackets != 2 + len(readings) and brackets > MAX_NESTING:
        if _nested_deeper_than(document, MAX_NESTING):
            return None
    site, device = topic.site, topic.device
    if ("site" in document and document["site"] != site) or (
        "device" in document and document["device"] != device
    ):
        return None
    newest_ms, oldest_ms = _bounds_ms(now, max_age)
    lines = []
    for raw in readings:
        line = _line(site, device, raw, newest_ms, oldest_ms)
        if line is None:
            return None
        lines.append(line)
    return FastTelemetry(seq, sent_ms, lines)
