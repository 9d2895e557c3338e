"""Hostile input against the validator and the ingest's message processor (no network).

Each case is something a broken or malicious device could publish. What PROTOCOL.md
implies for the cases it does not name outright:

- Duplicate keys: RFC 8259 allows them (names SHOULD be unique) and PROTOCOL.md does not
  forbid them, so they are not "bad JSON": the last one wins, as in the edge's `json`
  module, orjson and JavaScript. Both of the hub's parser paths must agree on that.
- A byte order mark, UTF-16 or UTF-32: RFC 8259 says JSON between systems MUST be UTF-8
  without a BOM, and orjson refuses them: bad JSON, rejected whole.
- Numbers beyond a double (1e400) parse as infinity and are refused wherever a number is
  expected; 1e-400 is the number nearest to it, 0.0. An integer of more than 4,300 digits
  cannot be parsed at all: bad JSON. A huge number in an ignored extra field is ignored.
- Nesting deeper than MAX_NESTING (64) levels: bad JSON (the message needs three).
- `sent` far in the future or past is accepted: it only feeds the clock-skew figures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest.pipeline import Inbound, MessageProcessor
from protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS,
    MessageRejected,
    OccupancyReading,
    Point,
    TemperatureReading,
    format_ts,
    parse_status,
    parse_telemetry,
    parse_topic,
    parse_ts,
    to_line,
)
from protocol.codec import MAX_NESTING, _loads, _stdlib_loads, load_json
from tests.waiting import wait_until
from timeseries import open_writer

NOW = datetime(2026, 11, 23, 3, 0, 5, 120000, tzinfo=UTC)
TOPIC = parse_topic("canteen/site-a/pi-1/telemetry")
STATUS_TOPIC_S = "canteen/site-a/pi-1/status"
STATUS_TOPIC = parse_topic(STATUS_TOPIC_S)
STAMP = format_ts(NOW)
ODD_UNICODE = {
    "cyrillic a": "fridge-\u0430",
    "greek omicron": "fridge-\u03bf",
    "zero-width space": "fridge\u200b-1",
    "zero-width joiner": "fridge-1\u200d",
    "byte order mark": "\ufefffridge-1",
    "rtl override": "fridge-\u202e1",
    "nul": "fridge\x00-1",
    "lone surrogate": "fridge-\ud800",
    "emoji": "fridge-\U0001f9ca",
    "fullwidth digit": "fridge-\uff11",
    "arabic-indic digit": "fridge-\u0661",
    "kelvin sign": "\u212aitchen",
    "dotless i": "k\u0131tchen",
    "ligature fi": "\ufb01sh",
    "combining accent": "cafe\u0301",
    "upper case": "Fridge-1",
    "trailing newline": "fridge-1\n",
    "space": "fridge 1",
    "comma": "fridge,1",
    "equals": "fridge=1",
    "backslash": "fridge\\1",
    "quote": 'fridge"1',
    "leading hyphen": "-fridge",
    "empty": "",
    "64 characters": "a" * 64,
}


def message(*readings: object, **envelope: object) -> bytes:
    document: dict[str, object] = {"v": 1, "seq": 7, "sent": STAMP, "readings": list(readings)}
    document.update(envelope)
    return json.dumps(document).encode()


def temperature(celsius: object = 3.5, **extra: object) -> dict[str, object]:
    return {"kind": "temperature", "sensor": "fridge-1", "ts": STAMP, "celsius": celsius} | extra


def occupancy(**counts: object) -> dict[str, object]:
    body: dict[str, object] = {"kind": "occupancy", "sensor": "door-main", "ts": STAMP}
    return body | {"entered": 1, "exited": 0, "present": 5} | counts


def waste(**fields: object) -> dict[str, object]:
    body = {"kind": "waste", "sensor": "bin-plate", "ts": STAMP, "grams": 120.0}
    return body | {"category": "plate"} | fields


def raw_message(readings_json: str, **envelope: str) -> bytes:
    """A message whose readings (and envelope values) are spliced in as raw JSON text."""
    parts = {"v": "1", "seq": "7", "sent": json.dumps(STAMP), "readings": readings_json}
    parts.update(envelope)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in parts.items()) + "}").encode()


def processed(payload: bytes, topic: str = "canteen/site-a/pi-1/telemetry") -> Any:
    """What the ingest's processor makes of a message: it must never raise."""
    return MessageProcessor().process(Inbound(topic, payload, NOW))


def rejects_only_the_reading(bad: object, fault: str) -> None:
    """The bad reading is rejected with a reason naming `fault`; its good neighbour lands."""
    parsed = parse_telemetry(TOPIC, message(bad, temperature(2.0, sensor="fridge-2")), NOW)
    assert [r.sensor for r in parsed.readings] == ["fridge-2"]
    [rejected] = parsed.rejected
    assert rejected.index == 0
    assert fault in rejected.reason, rejected.reason
    out = processed(message(bad, temperature(2.0, sensor="fridge-2")))
    assert len(out.lines) == 1 and len(out.dead) == 1


def rejects_the_message(payload: bytes, fault: str = "") -> str:
    with pytest.raises(MessageRejected) as caught:
        parse_telemetry(TOPIC, payload, NOW)
    assert fault in str(caught.value), str(caught.value)
    out = processed(payload)
    assert out.lines == [] and len(out.dead) == 1
    assert out.dead[0].payload == payload
    return str(caught.value)


# --- malformed JSON ---------------------------------------------------------------------------
GOOD = message(temperature(), waste(dish="braised-pork"))


def test_every_truncation_of_a_good_message_is_rejected_whole() -> None:
    for end in range(len(GOOD)):
        rejects_the_message(GOOD[:end], "JSON")


@pytest.mark.parametrize(
    ("payload", "fault"),
    [
        (b"", "JSON"),
        (b"\xef\xbb\xbf" + GOOD, "BOM"),
        (GOOD.decode().encode("utf-16"), "JSON"),
        (GOOD.decode().encode("utf-16-le"), "JSON"),
        (GOOD.decode().encode("utf-32"), "JSON"),
        (b"\xff\xfe garbage", "JSON"),
        (GOOD[:-1] + b"\xc3}", "JSON"),  # a cut UTF-8 sequence
        (GOOD + b" trailing", "JSON"),
        (GOOD + GOOD, "JSON"),
        (GOOD.replace(b'"', b"'"), "JSON"),
        (GOOD.replace(b"]", b",]"), "JSON"),
        (b"/* hi */" + GOOD, "JSON"),
        (b"null", "message"),
        (b"[]", "message"),
        (b'"telemetry"', "message"),
        (b"42", "message"),
    ],
)
def test_malformed_json_is_rejected_whole_with_a_reason(payload: bytes, fault: str) -> None:
    rejects_the_message(payload, fault)


def test_duplicate_keys_the_last_wins_on_both_parser_paths() -> None:
    base = f'"seq":7,"sent":"{STAMP}","readings":[]'
    assert parse_telemetry(TOPIC, ('{"v":2,"v":1,' + base + "}").encode(), NOW).seq == 7
    rejects_the_message(('{"v":1,"v":2,' + base + "}").encode(), "v")
    doubled = b'{"kind":"temperature","sensor":"fridge-1","ts":"%s","celsius":99,"celsius":4.0}'
    reading = doubled % STAMP.encode()
    # A 70-bit integer in an ignored field makes orjson hand the payload to `json`.
    for extra in ("", ',"spare":1180591620717411303424'):
        payload = raw_message(f"[{reading.decode()}]", note=f'"x"{extra}')
        [parsed] = parse_telemetry(TOPIC, payload, NOW).readings
        assert isinstance(parsed, TemperatureReading) and parsed.celsius == 4.0
        assert _loads(payload) == _stdlib_loads(payload)


# --- wrong types --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reading", "fault"),
    [
        (temperature(None), "celsius"),
        (temperature([3.5]), "celsius"),
        (temperature({"value": 3.5}), "celsius"),
        (temperature("NaN"), "celsius"),
        (temperature("Infinity"), "celsius"),
        (temperature(sensor=7), "sensor"),
        (temperature(sensor=None), "sensor"),
        (temperature(sensor=["fridge-1"]), "sensor"),
        (temperature(ts=None), "ts"),
        (temperature(ts=1763866805.0), "ts"),
        (temperature(ts=[STAMP]), "ts"),
        ({"kind": "door", "sensor": "d", "ts": STAMP, "open": "true"}, "open"),
        ({"kind": "door", "sensor": "d", "ts": STAMP, "open": None}, "open"),
        ({"kind": "door", "sensor": "d", "ts": STAMP, "open": 0}, "open"),
        (waste(category=1), "category"),
        (waste(category="PLATE"), "category"),
        (waste(dish=5), "dish"),
        (waste(grams="120"), "grams"),
        (waste(grams=False), "grams"),
        (occupancy(present="3"), "present"),
        (occupancy(present=3.5), "present"),
        (occupancy(present=True), "present"),
        (occupancy(entered=None), "entered"),
        ({"kind": "temperature"}, "sensor"),
        ("temperature", "not a JSON object"),
        (None, "not a JSON object"),
        (7, "not a JSON object"),
    ],
)
def test_a_wrongly_typed_reading_is_rejected_alone(reading: object, fault: str) -> None:
    rejects_only_the_reading(reading, fault)


@pytest.mark.parametrize(
    ("envelope", "fault"),
    [
        ({"readings": {}}, "readings"),
        ({"readings": "temperature"}, "readings"),
        ({"readings": None}, "readings"),
        ({"seq": "7"}, "seq"),
        ({"seq": -7}, "seq"),
        ({"seq": None}, "seq"),
        ({"sent": 1763866805}, "sent"),
        ({"sent": None}, "sent"),
        ({"site": 1}, "site"),
    ],
)
def test_a_wrongly_typed_envelope_rejects_the_message(
    envelope: dict[str, object], fault: str
) -> None:
    rejects_the_message(message(temperature(), **envelope), fault)


@pytest.mark.parametrize("field", ["v", "seq", "sent", "readings"])
def test_a_missing_envelope_field_rejects_the_message(field: str) -> None:
    document = json.loads(message(temperature()))
    del document[field]
    rejects_the_message(json.dumps(document).encode(), field)


# --- NaN and infinities -------------------------------------------------------------------------
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    "where",
    ["celsius", "extra field", "seq", "envelope extra", "status"],
)
def test_nan_and_infinity_literals_reject_the_whole_message(literal: str, where: str) -> None:
    reading = json.dumps(temperature(0)).replace('"celsius": 0', '"celsius": @')
    if where == "celsius":
        payload = raw_message(f"[{reading}]".replace("@", literal))
    elif where == "extra field":
        payload = raw_message(f'[{json.dumps(temperature(note=0))[:-1]}, "spare": {literal}}}]')
    elif where == "seq":
        payload = raw_message("[]", seq=literal)
    elif where == "envelope extra":
        payload = raw_message("[]", spare=literal)
    else:
        status = f'{{"v": 1, "online": true, "cpu_temp_c": {literal}}}'.encode()
        with pytest.raises(MessageRejected, match=literal):
            parse_status(STATUS_TOPIC, status)
        return
    rejects_the_message(payload, f"{literal} is not allowed")


@pytest.mark.parametrize("spelling", ["nan", "NAN", "inf", "Inf", "+Infinity", "infinity"])
def test_other_spellings_of_nan_and_infinity_are_not_json(spelling: str) -> None:
    rejects_the_message(raw_message("[]", spare=spelling), "JSON")


# --- huge numbers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("literal", "fault"),
    [
        ("1e400", "finite"),
        ("-1e400", "finite"),
        (str(10**400), "valid number"),
        (str(-(10**400)), "valid number"),
        (str(2**63), "150"),
        (str(2**64), "150"),
    ],
)
def test_a_huge_temperature_is_rejected_alone(literal: str, fault: str) -> None:
    reading = json.dumps(temperature(0)).replace('"celsius": 0', f'"celsius": {literal}')
    payload = raw_message(f"[{reading}, {json.dumps(temperature(2.0, sensor='fridge-2'))}]")
    parsed = parse_telemetry(TOPIC, payload, NOW)
    assert [r.sensor for r in parsed.readings] == ["fridge-2"]
    assert fault in parsed.rejected[0].reason


@pytest.mark.parametrize("literal", ["1e400", str(10**400), str(2**63), "9.3e18"])
def test_a_huge_seq_rejects_the_message(literal: str) -> None:
    rejects_the_message(raw_message("[]", seq=literal), "seq")


def test_the_largest_int64_is_the_largest_seq_and_count() -> None:
    top = 2**63 - 1
    parsed = parse_telemetry(TOPIC, message(occupancy(present=top), seq=top), NOW)
    assert parsed.seq == top
    assert isinstance(parsed.readings[0], OccupancyReading)
    assert processed(message(occupancy(present=top))).lines[0].count(f"present={top}i") == 1
    rejects_only_the_reading(occupancy(present=2**63), "present")
    rejects_only_the_reading(occupancy(entered=10**400), "entered")


def test_an_integer_too_long_to_parse_rejects_the_message_cleanly() -> None:
    rejects_the_message(raw_message("[]", spare="1" + "0" * 5000), "JSON")


def test_a_number_below_the_smallest_double_is_zero() -> None:
    reading = json.dumps(temperature(0)).replace('"celsius": 0', '"celsius": 1e-400')
    [parsed] = parse_telemetry(TOPIC, raw_message(f"[{reading}]"), NOW).readings
    assert isinstance(parsed, TemperatureReading) and parsed.celsius == 0.0
    tiny = json.dumps(waste()).replace('"grams": 120.0', '"grams": 1e-400')
    assert "grams" in parse_telemetry(TOPIC, raw_message(f"[{tiny}]"), NOW).rejected[0].reason


@pytest.mark.parametrize("literal", ["1e400", str(10**400), str(2**64), "-1e400"])
def test_a_huge_number_in_an_ignored_field_is_ignored(literal: str) -> None:
    reading = json.dumps(temperature(note=0)).replace('"note": 0', f'"note": {literal}')
    out = processed(raw_message(f"[{reading}]", spare=literal))
    assert out.dead == [] and len(out.lines) == 1
    assert "note" not in out.lines[0] and "inf" not in out.lines[0]


# --- size limits --------------------------------------------------------------------------------
def _padded_to(size: int) -> bytes:
    payload = message(temperature(note=""))
    return message(temperature(note="x" * (size - len(payload))))


def test_a_message_of_exactly_256_kib_is_taken_and_one_byte_more_is_not() -> None:
    at_limit = _padded_to(MAX_PAYLOAD_BYTES)
    assert len(at_limit) == MAX_PAYLOAD_BYTES
    assert len(parse_telemetry(TOPIC, at_limit, NOW).readings) == 1
    over = _padded_to(MAX_PAYLOAD_BYTES + 1)
    assert rejects_the_message(over, "over the limit").startswith(f"payload is {len(over)} bytes")


def test_1000_readings_are_taken_and_1001_are_not() -> None:
    def many(count: int) -> bytes:
        spaced = [
            temperature(sensor=f"probe-{i}", ts=format_ts(NOW - timedelta(seconds=i)))
            for i in range(count)
        ]
        return message(*spaced)

    assert len(parse_telemetry(TOPIC, many(MAX_READINGS), NOW).readings) == MAX_READINGS
    rejects_the_message(many(MAX_READINGS + 1), "readings")


def test_an_oversize_payload_is_rejected_before_it_is_parsed() -> None:
    # Past the size limit nothing is decoded, however the bytes look.
    rejects_the_message(b"[" * (MAX_PAYLOAD_BYTES + 1), "over the limit")


# --- deep nesting -------------------------------------------------------------------------------
DEPTHS = [MAX_NESTING + 1, 500, 999, 1000, 1023, 1024, 1025, 100_000]


def _nest(depth: int, opener: str = "[") -> str:
    if opener == "{":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("where", ["reading", "celsius", "extra field", "envelope", "bare"])
@pytest.mark.parametrize("opener", ["[", "{"])
def test_deep_nesting_is_a_clean_rejection_never_a_recursion_error(
    depth: int, where: str, opener: str
) -> None:
    nest = _nest(depth, opener)
    if where == "reading":
        payload = raw_message(f"[{nest}]")
    elif where == "celsius":
        payload = raw_message(f"[{json.dumps(temperature(0)).replace('0}', nest + '}')}]")
    elif where == "extra field":
        payload = raw_message(f"[{json.dumps(temperature(note=0)).replace('0}', nest + '}')}]")
    elif where == "envelope":
        payload = raw_message("[]", spare=nest)
    else:
        payload = nest.encode()
    reason = rejects_the_message(payload)
    if len(payload) > MAX_PAYLOAD_BYTES:
        assert "over the limit" in reason
    else:  # past orjson's and Python's limits it is bad JSON; before them, too deep
        assert "JSON" in reason or f"over {MAX_NESTING} deep" in reason, reason
    with pytest.raises(MessageRejected):
        parse_status(STATUS_TOPIC, payload)


@pytest.mark.parametrize("depth", [100_000, 131_072])
def test_unclosed_nesting_is_a_clean_rejection(depth: int) -> None:
    rejects_the_message(b"[" * depth, "JSON")
    rejects_the_message(b'{"a":' * (depth // 5), "JSON")


def test_nesting_up_to_the_limit_is_fine_in_an_ignored_field() -> None:
    # envelope (1) > readings (2) > reading (3) > the field's own levels
    inner = _nest(MAX_NESTING - 3)
    reading = json.dumps(temperature(note=0)).replace("0}", inner + "}")
    out = processed(raw_message(f"[{reading}]"))
    assert len(out.lines) == 1 and out.dead == []
    deeper = _nest(MAX_NESTING - 2)
    bad = json.dumps(temperature(note=0)).replace("0}", deeper + "}")
    assert "64 deep" in rejects_the_message(raw_message(f"[{bad}]"))
    # And a rejected reading nested to the limit is kept, re-encoded, in the dead letters.
    near = json.dumps({"kind": "humidity", "x": 0}).replace("0}", inner + "}")
    [letter] = processed(raw_message(f"[{near}]")).dead
    assert json.loads(letter.payload)["kind"] == "humidity"


def test_load_json_counts_levels_from_the_outside() -> None:
    assert load_json(_nest(MAX_NESTING).encode()) is not None
    with pytest.raises(MessageRejected, match="deep"):
        load_json(_nest(MAX_NESTING + 1).encode())
    # Brackets inside strings are not nesting.
    assert load_json(json.dumps({"s": "[" * 10_000}).encode()) == {"s": "[" * 10_000}


# --- unknown kinds and versions -----------------------------------------------------------------
@pytest.mark.parametrize(
    "version",
    ["2", "0", "-1", "1.0", "1e0", "true", '"1"', "null", "[1]", "{}", str(10**400), "1.5"],
)
def test_any_version_but_the_integer_1_rejects_the_message(version: str) -> None:
    rejects_the_message(raw_message(f"[{json.dumps(temperature())}]", v=version), "v")
    status = f'{{"v": {version}, "online": true}}'.encode()
    with pytest.raises(MessageRejected, match="v"):
        parse_status(STATUS_TOPIC, status)


@pytest.mark.parametrize(
    "kind",
    [
        "humidity",
        "Temperature",
        "TEMPERATURE",
        "temperature ",
        " temperature",
        "temperature\u200b",
        "t\u0435mperature",  # Cyrillic e
        "temperature\x00",
        "",
        None,
        1,
        True,
        ["temperature"],
        {"name": "temperature"},
    ],
)
def test_an_unknown_kind_is_rejected_alone(kind: object) -> None:
    rejects_only_the_reading(temperature(kind=kind), "unknown kind")


def test_a_reading_without_a_kind_is_rejected_alone() -> None:
    body = temperature()
    del body["kind"]
    rejects_only_the_reading(body, "unknown kind")


def test_a_huge_unknown_kind_keeps_the_reason_short() -> None:
    parsed = parse_telemetry(TOPIC, message({"kind": "x" * 200_000}), NOW)
    assert len(parsed.rejected[0].reason) < 200


# --- topic and payload identities ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("envelope", "fault"),
    [
        ({"site": "site-b"}, "site"),
        ({"device": "pi-2"}, "device"),
        ({"site": "site-a", "device": "pi-2"}, "device"),
        ({"site": "Site-A"}, "site"),
        ({"site": "site-\u0430"}, "site"),
        ({"device": "pi-1\u200b"}, "device"),
        ({"site": ""}, "site"),
        ({"site": None}, "site"),
        ({"device": None}, "device"),
        ({"site": ["site-a"]}, "site"),
    ],
)
def test_a_payload_naming_another_site_or_device_is_rejected_whole(
    envelope: dict[str, object], fault: str
) -> None:
    rejects_the_message(message(temperature(), **envelope), fault)
    status = json.dumps({"v": 1, "online": True, **envelope}).encode()
    with pytest.raises(MessageRejected, match=fault):
        parse_status(STATUS_TOPIC, status)


@pytest.mark.parametrize(
    "topic",
    [
        "canteen/site-\u0430/pi-1/telemetry",
        "canteen/Site-A/pi-1/telemetry",
        "canteen/site-a/pi\u200b-1/telemetry",
        "canteen/site-a/pi-1/telemetry/extra",
        "canteen/site-a/telemetry",
        "canteen/site-a/pi-1/config",
        "canteen/site-a/pi-1/Telemetry",
        "other/site-a/pi-1/telemetry",
        "canteen//pi-1/telemetry",
        "canteen/site-a/\U0001f9ca/telemetry",
    ],
)
def test_a_bad_topic_is_dead_lettered_with_the_topic_kept(topic: str) -> None:
    out = processed(GOOD, topic)
    assert out.lines == []
    [letter] = out.dead
    assert letter.topic == topic and letter.payload == GOOD


# --- timestamps ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ts", "fault"),
    [
        (format_ts(NOW + timedelta(minutes=5, milliseconds=1)), "ahead"),
        (format_ts(NOW + timedelta(days=365 * 20)), "ahead"),
        ("9999-12-31T23:59:59.999Z", "ahead"),
        ("9999-12-31T23:59:59-01:00", "real date"),  # past year 9999 in UTC
        (format_ts(NOW - timedelta(days=30, seconds=1)), "older"),
        ("1970-01-01T00:00:00Z", "older"),
        ("0001-01-01T00:00:00Z", "older"),
        ("0001-01-01T00:00:00+01:00", "real date"),  # before year 1 in UTC
        ("0000-01-01T00:00:00Z", "real date"),
        ("10000-01-01T00:00:00Z", "RFC 3339"),
        ("-0001-01-01T00:00:00Z", "RFC 3339"),
        ("2026-02-30T00:00:00Z", "real date"),
        ("2026-11-23T24:00:00Z", "real date"),
        ("2026-11-23T23:59:60Z", "real date"),
        ("2026-11-23T03:00:05+24:00", "real date"),
        ("\u0662\u0660\u0662\u0666-11-23T03:00:05Z", "real date"),  # Arabic-Indic digits
        ("2026-11-23T03:00:05.1234567891Z", "RFC 3339"),
        (STAMP + "\n", "RFC 3339"),
        ("now", "RFC 3339"),
    ],
)
def test_a_reading_outside_the_window_or_not_rfc_3339_is_rejected_alone(
    ts: str, fault: str
) -> None:
    rejects_only_the_reading(temperature(ts=ts), fault)


@pytest.mark.parametrize(
    "ts",
    [
        format_ts(NOW + timedelta(minutes=4, seconds=59)),
        format_ts(NOW - timedelta(days=29, hours=23)),
        "2026-11-23T11:00:05.120+08:00",
        "2026-11-22T13:00:05.120-14:00",
    ],
)
def test_a_reading_inside_the_window_is_taken(ts: str) -> None:
    parsed = parse_telemetry(TOPIC, message(temperature(ts=ts)), NOW)
    assert parsed.rejected == () and parsed.readings[0].ts == parse_ts(ts)


@pytest.mark.parametrize(
    "sent", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]
)
def test_a_far_away_sent_is_accepted_it_only_feeds_the_clock_skew(sent: str) -> None:
    parsed = parse_telemetry(TOPIC, message(temperature(), sent=sent), NOW)
    assert parsed.sent == parse_ts(sent) and len(parsed.readings) == 1


@pytest.mark.parametrize(
    "sent", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-13-01T00:00:00Z"]
)
def test_a_sent_that_is_no_real_instant_rejects_the_message(sent: str) -> None:
    rejects_the_message(message(temperature(), sent=sent), "sent")


def test_a_status_ts_that_overflows_is_rejected_not_raised() -> None:
    for ts in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
        with pytest.raises(MessageRejected, match="ts"):
            parse_status(STATUS_TOPIC, json.dumps({"v": 1, "online": True, "ts": ts}).encode())


# --- replayed and duplicate seq -----------------------------------------------------------------
def test_replayed_lower_and_duplicate_seq_are_processed_like_any_other() -> None:
    lines = []
    for seq in (5, 5, 3, 1, 5, 2**63 - 1, 1):
        out = processed(message(temperature(), seq=seq))
        assert out.dead == [] and out.topic is not None and out.seq == seq
        lines.extend(out.lines)
    assert len(set(lines)) == 1  # the same point each time: InfluxDB keeps it once


# --- odd unicode --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ODD_UNICODE), ids=str)
@pytest.mark.parametrize("field", ["sensor", "dish"])
def test_odd_unicode_in_a_slug_rejects_the_reading(name: str, field: str) -> None:
    value = ODD_UNICODE[name]
    bad = temperature(sensor=value) if field == "sensor" else waste(dish=value)
    rejects_only_the_reading(bad, field)


@pytest.mark.parametrize("name", sorted(ODD_UNICODE), ids=str)
def test_odd_unicode_in_extra_fields_is_ignored_and_never_stored(name: str) -> None:
    value = ODD_UNICODE[name]
    payload = message(temperature(note=value, **{value or "empty": value}), spare=value)
    out = processed(payload)
    assert out.dead == [] and len(out.lines) == 1
    assert out.lines[0].startswith("temperature,device=pi-1,sensor=fridge-1,site=site-a ")


def test_escaped_lone_surrogates_are_refused_where_a_string_is_stored() -> None:
    agent = b'{"v": 1, "online": true, "agent": "1.4\\ud800"}'
    with pytest.raises(MessageRejected, match="agent"):
        parse_status(STATUS_TOPIC, agent)
    # In a rejected reading they are kept in the dead letter, escaped, without a crash.
    bad = raw_message('[{"kind": "\\udc00", "x": "\\ud800"}]')
    [letter] = processed(bad).dead
    assert b"udc00" in letter.payload


@pytest.mark.parametrize(
    "agent",
    ["1.4.0\nweird,site=evil online=true 1", 'q"uo\\te', "\u202e0.4.1", "a\x00b", "\U0001f9ca"],
)
def test_a_status_agent_string_is_stored_as_one_escaped_field(agent: str) -> None:
    out = processed(json.dumps({"v": 1, "online": True, "agent": agent}).encode(), STATUS_TOPIC_S)
    [line] = out.lines
    assert line.startswith('device_status,device=pi-1,site=site-a online=true,agent="')
    escaped = agent.replace("\\", "\\\\").replace('"', '\\"')
    assert f'agent="{escaped}"' in line


# --- against the real InfluxDB ------------------------------------------------------------------
HOSTILE_AGENTS = [
    "1.4.0\nweird,site=evil online=true 1",
    'q"uo\\te',
    "back\\",
    "a,b c=d",
    "\u202e0.4.1",
    "a\x00b",
    "\U0001f9ca \u7ea2\u70e7\u8089",
    "tab\tcr\r",
]


@pytest.mark.integration
def test_hostile_strings_land_unchanged_through_the_ingest_and_create_no_series(
    start_ingest: Any, v1_influx: Any, influxql: Any, publisher: Any
) -> None:
    start_ingest(v1_influx)
    now = datetime.now(UTC).replace(microsecond=0)
    site = "site-lp"
    longest = "a" + "-9" * 31  # 63 characters, the longest slug
    for index, agent in enumerate(HOSTILE_AGENTS):
        ts = format_ts(now - timedelta(seconds=index))
        status = {"v": 1, "online": True, "ts": ts, "agent": agent}
        publisher(f"canteen/{site}/pi-{index}/status", json.dumps(status).encode())
    drop = waste(sensor=longest, dish=longest, ts=format_ts(now))
    bad = [waste(dish=value, sensor=f"bad-{i}") for i, value in enumerate(ODD_UNICODE.values())]
    publisher(f"canteen/{site}/pi-w/telemetry", message(drop, *bad, sent=format_ts(now)))

    def landed() -> list[dict[str, Any]]:
        return influxql.rows(f"SELECT * FROM device_status WHERE site = '{site}'")  # noqa: S608

    rows = wait_until(lambda: len(landed()) == len(HOSTILE_AGENTS) and landed(), timeout=15)
    assert {row["device"]: row["agent"] for row in rows} == {
        f"pi-{index}": agent for index, agent in enumerate(HOSTILE_AGENTS)
    }
    [stored] = wait_until(lambda: influxql.rows("SELECT * FROM waste"), timeout=15)
    assert (stored["sensor"], stored["dish"], stored["grams"]) == (longest, longest, 120.0)
    # Other tests' retained birth messages on the session's broker land as device_status of
    # their own sites when this ingest subscribes: those alone are set aside.
    series = {
        row["key"]
        for row in influxql.rows("SHOW SERIES")
        if not (row["key"].startswith("device_status,") and f"site={site}" not in row["key"])
    }
    assert series == {
        f"device_status,device=pi-{i},site={site}" for i in range(len(HOSTILE_AGENTS))
    } | {f"waste,category=plate,device=pi-w,dish={longest},sensor={longest},site={site}"}
    assert {row["name"] for row in influxql.rows("SHOW MEASUREMENTS")} == {"device_status", "waste"}


@pytest.mark.integration
def test_to_line_escapes_commas_spaces_and_equals_as_influxdb_reads_them(influxql: Any) -> None:
    """Beyond what validation lets through: the encoder's escaping, checked by the server.

    Backslashes are left out: InfluxDB 1.x keeps `\\\\` in a tag value as two characters
    (2.x reads it as one), so no escaping round-trips on both. No tag can carry one: every
    tag value is a slug or a waste category (see the property tests).
    """
    values = ["a,b", "a b", "a=b", "=", " x", "x ", 'a"b', "#c", "\u202e", "\u200b", "a\x00b"]
    points = [
        Point("m x,y", (("dish", value), ("i", str(index))), (("f", 1.0),), 1_700_000_000_000)
        for index, value in enumerate(values)
    ]
    writer = open_writer(influxql.settings, "v1")
    writer.write([to_line(point) for point in points])
    writer.close()
    rows = influxql.rows('SELECT * FROM "m x,y"')
    assert {row["i"]: row["dish"] for row in rows} == {str(i): v for i, v in enumerate(values)}
    assert len(influxql.rows("SHOW SERIES")) == len(values)
