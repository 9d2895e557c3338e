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

_AGENT_MINUTE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
_ONE_MS = timedelta(milliseconds=1)
_ONE_SECOND = timedelta(seconds=1)
_CATEGORIES = frozenset(c.value for c in WasteCategory)
_NUMBER = (int, float)
_CACHE_MAX = 4096


class FastTelemetry(NamedTuple):
    """What a telemetry message yields when every reading in it is valid."""

    seq: int
    sent_ms: int
    """When the agent sent the message, in milliseconds since the epoch."""
    lines: list[str]


_LAST_DIGITS = {f"{d}.{n:03d}Z": f"{d}{n:03d}" for d in range(10) for n in range(1000)}
"""A timestamp's last six characters, "0.000Z" to "9.999Z" (ASCII digits only), as the last
four digits of its time in ms ("0000" to "9999")."""
_tens: dict[str, str] = {}
"""Each ten seconds seen ("2026-12-01T08:30:1"), valid ones only, as its seconds since the
epoch over ten in decimal ("176457781"): with the last four digits after it, a reading's
time in ms as a line ends with it."""
_TENS_OF_MINUTE = {f":{n}": 10 * n for n in range(6)}
"""":0" to ":5" (no leap second ":60": Python's parser, and so the models, refuse it)."""
_minutes: dict[str, int] = {}
"""Seconds since the epoch of each minute seen ("2026-12-01T08:30"), valid ones only."""


def _parse_minute(minute: str) -> int | None:
    if _AGENT_MINUTE.fullmatch(minute) is None:
        return None
    try:
        seconds = (datetime.fromisoformat(minute + ":00+00:00") - EPOCH) // _ONE_SECOND
    except ValueError:  # not a real date or time (month 13, hour 24), or year 0
        return None
    if len(_minutes) >= _CACHE_MAX:
        _minutes.clear()
    _minutes[minute] = seconds
    return seconds


def _parse_tens(tens: str) -> str | None:
    """The text of ten new seconds, remembered in `_tens`; None if they are not valid.

    A backlog's readings are seconds apart, so their tens of seconds are often new, but
    their minutes repeat: the minute is parsed once and the tens only added to it.
    """
    minute = _minutes.get(tens[:16])
    if minute is None:
        minute = _parse_minute(tens[:16])
    offset = _TENS_OF_MINUTE.get(tens[16:])
    if minute is None or offset is None or minute + offset < 10:
        return None  # (before 10 s, the digits side by side do not make the ms)
    if len(_tens) >= _CACHE_MAX:
        _tens.clear()
    _tens[tens] = text = str((minute + offset) // 10)
    return text


def _agent_ts_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of a timestamp in the agents' format, else None.

    The readings of a backlog, or of many devices, share their tens of seconds: they are
    parsed once and looked up after that, and only the last six characters are read for
    each reading. Remembered tens are 18 characters, so with known last six after them
    the whole timestamp is the agents' 24.
    """
    if type(value) is not str:
        return None
    last = _LAST_DIGITS.get(value[18:])
    if last is None:
        return None
    tens = _tens.get(value[:18]) or _parse_tens(value[:18])
    if tens is None:
        return None
    return int(tens + last)


def _slug(value: Any) -> TypeGuard[str]:
    # Checked only when a series head is not remembered yet: the heads are the cache.
    return type(value) is str and is_slug(value)


def _make_head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """The measurement and tags of a line, escaped and ordered exactly as `to_line` does."""
    escaped = "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in sorted(tags))
    return f"{_escape_measurement(measurement)}{escaped} "


Heads = dict[Any, str]
"""One device's series heads of one kind, keyed by sensor (waste: sensor, category, dish)."""
_heads: dict[tuple[str, str], dict[str, Heads]] = {}
"""Each device's heads by kind (valid ones only): looked up once a message."""
_head_count = 0


def _device_heads(site: str, device: str) -> dict[str, Heads]:
    heads = _heads.get((site, device))
    if heads is None:
        heads = _heads[(site, device)] = {kind: {} for kind in KINDS}
    return heads


def _remember_head(heads: Heads, key: Any, head: str) -> str:
    global _head_count
    if _head_count >= _CACHE_MAX:
        for device in _heads.values():  # cleared in place: a message may hold one
            for kind in device.values():
                kind.clear()
        _heads.clear()
        _head_count = 0
    heads[key] = head
    _head_count += 1
    return head


def _sensor_head(heads: Heads, measurement: str, site: str, device: str, sensor: Any) -> str | None:
    """The head of a kind tagged site, device and sensor only; None if `sensor` is no slug."""
    head = heads.get(sensor) if type(sensor) is str else None
    if head is not None:
        return head
    if not _slug(sensor):
        return None
    tags = (("site", site), ("device", device), ("sensor", sensor))
    return _remember_head(heads, sensor, _make_head(measurement, tags))


def _number_in(value: Any, low: float, high: float, low_open: bool = False) -> TypeGuard[float]:
    # NaN fails every comparison and infinities are beyond any bound: no isfinite needed.
    if type(value) not in _NUMBER:
        return False
    above = low < value if low_open else low <= value
    return bool(above and value <= high)


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= INT64_MAX


# One function a kind: (reading, the device's heads of the kind, site, device) ->
# "measurement,tags fields", or None when the models might see it otherwise. Tags as
# `reading_point` makes them; a head found is a valid series, a new one is checked.
def _door(raw: dict[str, Any], heads: Heads, site: str, device: str) -> str | None:
    is_open = raw.get("open")
    if type(is_open) is not bool:
        return None
    head = _sensor_head(heads, "door", site, device, raw.get("sensor"))
    if head is None:
        return None
    return f"{head}open=true" if is_open else f"{head}open=false"


def _waste(raw: dict[str, Any], heads: Heads, site: str, device: str) -> str | None:
    grams, category, dish = raw.get("grams"), raw.get("category"), raw.get("dish")
    sensor = raw.get("sensor")
    if not _number_in(grams, 0, MAX_GRAMS_PER_DROP, low_open=True):
        return None
    if type(category) is not str or category not in _CATEGORIES or type(sensor) is not str:
        return None
    if dish is not None and type(dish) is not str:
        return None
    key = (sensor, category, dish)
    head = heads.get(key)
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
        head = _remember_head(heads, key, _make_head("waste", tags))
    return f"{head}grams={float(grams)!r}"


def _occupancy(raw: dict[str, Any], heads: Heads, site: str, device: str) -> str | None:
    entered, exited, present = raw.get("entered"), raw.get("exited"), raw.get("present")
    if not (_count(entered) and _count(exited) and _count(present)):
        return None
    head = _sensor_head(heads, "occupancy", site, device, raw.get("sensor"))
    if head is None:
        return None
    return f"{head}entered={entered}i,exited={exited}i,present={present}i"


_ENCODERS = {  # temperature, most readings, is inlined in `_lines`
    "door": _door,
    "waste": _waste,
    "occupancy": _occupancy,
}
assert {"temperature", *_ENCODERS} == KINDS.keys()  # noqa: S101  (a new kind needs its encoder)
assert all(KINDS[k].measurement == k for k in KINDS)  # noqa: S101  (the heads above)


_celsius_texts: dict[float, str] = {}
"""`repr` of each temperature seen (a probe reads the same few values over and over)."""


def _celsius_text(celsius: float) -> str:
    text = repr(celsius)
    if celsius:  # -0.0 == 0.0, but they print apart: neither is remembered
        if len(_celsius_texts) >= _CACHE_MAX:
            _celsius_texts.clear()
        _celsius_texts[celsius] = text
    return text


def _lines(
    site: str, device: str, readings: list[Any], bounds: tuple[str, str]
) -> list[str] | None:
    """Every reading's line, or None if any one might be seen otherwise by the models."""
    oldest, newest = bounds
    heads = _device_heads(site, device)
    temperature = heads["temperature"]
    encoders, last_digits, tens_of, texts = _ENCODERS, _LAST_DIGITS, _tens, _celsius_texts
    lines: list[str] = []
    append = lines.append
    for raw in readings:
        if type(raw) is not dict:
            return None
        kind, ts = raw.get("kind"), raw.get("ts")
        if type(ts) is not str:
            return None
        # _agent_ts_ms, inlined: this loop runs for every reading the hub stores. Times
        # in the agents' format compare as text exactly as in time.
        last, key = last_digits.get(ts[18:]), ts[:18]
        tens = tens_of.get(key) or _parse_tens(key)
        if last is None or tens is None or not oldest <= ts <= newest:
            return None
        unverified = raw.get("clock_unverified")
        if unverified is None or unverified is False:
            tail = " "
        elif unverified is True:
            tail = ",clock_unverified=true "
        else:
            return None
        if kind == "temperature":  # most readings: encoded here, without a call
            celsius, sensor = raw.get("celsius"), raw.get("sensor")
            if type(celsius) is float:
                if not -60.0 <= celsius <= 150.0:
                    return None
            elif type(celsius) is int and -60 <= celsius <= 150:
                celsius = float(celsius)
            else:
                return None
            head = temperature.get(sensor) if type(sensor) is str else None
            if head is None:
                head = _sensor_head(temperature, "temperature", site, device, sensor)
                if head is None:
                    return None
            text = texts.get(celsius) or _celsius_text(celsius)
            append(f"{head}celsius={text}{tail}{tens}{last}")
            continue
        if type(kind) is not str or (encode := encoders.get(kind)) is None:
            return None
        body = encode(raw, heads[kind], site, device)
        if body is None:
            return None
        append(f"{body}{tail}{tens}{last}")
    return lines


def _agent_text(moment: datetime) -> str:
    """A whole-millisecond UTC time as the agents write it, the year always in 4 digits."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


@lru_cache(maxsize=4)
def _bounds(now: datetime, max_age: timedelta) -> tuple[str, str]:
    """The oldest and newest reading times accepted, as the agents write them.

    (A batch shares its `now`.) A ts has whole milliseconds: it is at most `newest`
    exactly when it is at most `newest` floored to the millisecond, and at least `oldest`
    exactly when at least its ceiling.
    """
    newest = EPOCH + (now + FUTURE_TOLERANCE - EPOCH) // _ONE_MS * _ONE_MS
    oldest = EPOCH - (EPOCH - (now - max_age)) // _ONE_MS * _ONE_MS
    return _agent_text(oldest), _agent_text(newest)


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
    lines = _lines(site, device, readings, _bounds(now, max_age))
    if lines is None:
        return None
    return FastTelemetry(seq, sent_ms, lines)
