"""Property-based tests of the validator and the line-protocol encoding."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    MessageRejected,
    Point,
    TemperatureReading,
    WasteReading,
    encode_telemetry,
    epoch_ms,
    parse_telemetry,
    parse_topic,
    reading_point,
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
