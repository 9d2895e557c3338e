"""Property-based tests of the validator and the line-protocol encoding."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.pipeline import Inbound, MessageProcessor
from protocol import (
    MessageRejected,
    Point,
    TemperatureReading,
    WasteReading,
    encode_telemetry,
    epoch_ms,
    parse_status,
    parse_telemetry,
    parse_topic,
    parse_ts,
    reading_point,
    status_point,
    to_line,
)

NOW = datetime(2026, 11, 23, 3, 0, 5, tzinfo=UTC)
TOPIC = parse_topic("canteen/site-a/pi-1/telemetry")
slugs = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_either_parse_or_are_rejected_cleanly(payload: bytes) -> None:
    try:
        parse_telemetry(TOPIC, payload, NOW)
    except MessageRejected:
        pass


@settings(max_examples=300)
@given(st.lists(json_values, max_size=6))
def test_any_json_readings_are_accepted_or_rejected_one_by_one(readings: list[object]) -> None:
    payload = json.dumps({"v": 1, "seq": 1, "sent": "2026-11-23T03:00:05Z", "readings": readings})
    parsed = parse_telemetry(TOPIC, payload.encode(), NOW)
    assert len(parsed.readings) + len(parsed.rejected) == len(readings)


@settings(max_examples=200)
@given(
    sensor=slugs,
    celsius=st.floats(min_value=-60, max_value=150, allow_nan=False),
    offset_ms=st.integers(min_value=-(29 * 86400 * 1000), max_value=4 * 60 * 1000),
)
def test_a_valid_temperature_round_trips_to_the_same_point(
    sensor: str, celsius: float, offset_ms: int
) -> None:
    ts = NOW + timedelta(milliseconds=offset_ms)
    reading = TemperatureReading(sensor=sensor, ts=ts, celsius=celsius)
    parsed = parse_telemetry(TOPIC, encode_telemetry(5, NOW, [reading]), NOW)
    assert parsed.readings == (reading,)
    point = reading_point("site-a", "pi-1", parsed.readings[0])
    assert point.time_ms == epoch_ms(ts)
    assert to_line(point).endswith(f" celsius={float(celsius)!r} {epoch_ms(ts)}")


LINE = re.compile(
    r"^(?P<m>(?:[^ ,\\]|\\.)+)(?P<tags>(?:,(?:[^ ,=\\]|\\.)+=(?:[^ ,=\\]|\\.)+)*) "
    r"(?P<fields>.+) (?P<ts>-?\d+)$"
)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@settings(max_examples=300)
@given(
    tags=st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
        max_size=4,
    ),
    text=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
)
def test_tag_values_cannot_inject_extra_tags_fields_or_lines(
    tags: dict[str, str], text: str
) -> None:
    point = Point("m", tuple(sorted(tags.items())), (("agent", text),), 1)
    line = to_line(point)
    assert "\n" not in line
    match = LINE.match(line)
    assert match is not None, line
    parsed_tags = re.findall(r",((?:[^ ,=\\]|\\.)+)=((?:[^ ,=\\]|\\.)+)", match["tags"])
    assert {_unescape(k): _unescape(v) for k, v in parsed_tags} == tags


def test_waste_point_carries_category_and_dish_as_tags() -> None:
    reading = WasteReading(
        sensor="bin-plate", ts=NOW, grams=412, category="plate", dish="braised-pork"
    )
    assert to_line(reading_point("site-a", "pi-1", reading)) == (
        "waste,category=plate,device=pi-1,dish=braised-pork,sensor=bin-plate,site=site-a "
        f"grams=412.0 {epoch_ms(NOW)}"
    )


# --- hostile strings: validation and the line-protocol encoding together ---------------------
LINE_BREAKERS = ",= \n\r\t\\\"'\x00\u200b\u202e\u0430\ufeff\U0001f9ca"
hostile_text = st.text(
    st.sampled_from(LINE_BREAKERS) | st.sampled_from("abz09-") | st.characters(),
    max_size=70,
)
slug_like = st.one_of(
    slugs,
    st.builds(
        lambda s, i, c: s[:i] + c + s[i:], slugs, st.integers(0, 63), st.sampled_from(LINE_BREAKERS)
    ),
    hostile_text,
)


def split_line(line: str) -> tuple[str, dict[str, str], str, str]:
    """Split one line the way InfluxDB reads it: unescaped commas, spaces and equals."""
    section, escaped, quoted = 0, False, False
    sections: list[str] = ["", "", ""]
    for char in line:
        if escaped:
            sections[section] += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            sections[section] += char
        elif char == " " and not quoted:
            section += 1
            assert section < 3, f"more than three sections in {line!r}"
        else:
            sections[section] += char
    head, fields, ts = sections
    name, *pairs = re.split(r"(?<!\\),", head)
    tags = {}
    for pair in pairs:
        key, value = re.split(r"(?<!\\)=", pair)
        tags[_unescape(key)] = _unescape(value)
    return _unescape(name), tags, fields, ts


@settings(max_examples=400)
@given(sensor=slug_like, dish=slug_like)
def test_a_dish_or_sensor_that_passes_validation_yields_exactly_the_intended_line(
    sensor: str, dish: str
) -> None:
    body = {
        "kind": "waste",
        "sensor": sensor,
        "ts": "2026-11-23T03:00:00.000Z",
        "grams": 12.5,
        "category": "plate",
        "dish": dish,
    }
    payload = json.dumps({"v": 1, "seq": 1, "sent": "2026-11-23T03:00:05Z", "readings": [body]})
    parsed = parse_telemetry(TOPIC, payload.encode(), NOW)
    valid = re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", sensor) and re.fullmatch(
        r"[a-z0-9][a-z0-9-]{0,62}", dish
    )
    if not valid:
        assert parsed.readings == () and len(parsed.rejected) == 1
        return
    [reading] = parsed.readings
    line = to_line(reading_point("site-a", "pi-1", reading))
    assert "\n" not in line and "\\" not in line  # a slug never needs escaping
    measurement, tags, fields, ts = split_line(line)
    assert measurement == "waste"
    assert tags == {
        "category": "plate",
        "device": "pi-1",
        "dish": dish,
        "sensor": sensor,
        "site": "site-a",
    }
    assert fields == "grams=12.5"
    assert ts == str(epoch_ms(datetime(2026, 11, 23, 3, 0, tzinfo=UTC)))


@settings(max_examples=300)
@given(agent=st.text(st.characters(blacklist_categories=("Cs",)), max_size=64))
def test_any_status_agent_string_is_one_string_field_that_decodes_back(agent: str) -> None:
    status = json.dumps({"v": 1, "online": True, "agent": agent}).encode()
    parsed = parse_status(parse_topic("canteen/site-a/pi-1/status"), status)
    line = to_line(status_point("site-a", "pi-1", parsed, NOW))
    measurement, tags, fields, ts = split_line(line)
    assert (measurement, tags, ts) == (
        "device_status",
        {"device": "pi-1", "site": "site-a"},
        str(epoch_ms(NOW)),
    )
    assert fields.startswith('online=true,agent="') and fields.endswith('"')
    assert _unescape(fields[len('online=true,agent="') : -1]) == agent


@settings(max_examples=300)
@given(
    year=st.integers(0, 10_000),
    month=st.integers(0, 13),
    day=st.integers(0, 32),
    clock=st.tuples(st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)),
    zone=st.one_of(
        st.just("Z"),
        st.tuples(st.sampled_from("+-"), st.integers(0, 25), st.integers(0, 61)).map(
            lambda z: f"{z[0]}{z[1]:02d}:{z[2]:02d}"
        ),
    ),
)
def test_a_timestamp_parses_to_utc_or_fails_as_a_value_error_only(
    year: int, month: int, day: int, clock: tuple[int, int, int], zone: str
) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}T{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}{zone}"
    try:
        moment = parse_ts(text)
    except ValueError:
        return
    assert moment.utcoffset() == timedelta(0)


@settings(max_examples=200)
@given(
    depth=st.integers(1, 3000),
    opener=st.sampled_from(["[", '{"a":']),
    closed=st.booleans(),
    where=st.sampled_from(["bare", "reading", "field"]),
)
def test_nesting_of_any_depth_is_taken_or_rejected_cleanly(
    depth: int, opener: str, closed: bool, where: str
) -> None:
    closer = "]" if opener == "[" else "}"
    nest = opener * depth + ("1" if opener != "[" else "") + (closer * depth if closed else "")
    body = {"bare": "{}", "reading": "[{}]", "field": '[{"kind":"door","x":{}}]'}[where]
    payload = (
        nest
        if where == "bare"
        else '{"v":1,"seq":1,"sent":"2026-11-23T03:00:05Z","readings":'
        + body.replace("{}", nest, 1)
        + "}"
    )
    out = MessageProcessor().process(
        Inbound("canteen/site-a/pi-1/telemetry", payload.encode(), NOW)
    )
    assert len(out.dead) <= 1 and out.lines == []
