"""The parser accepts PROTOCOL.md's examples and rejects what the protocol forbids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from protocol import (
    DeviceConfig,
    MessageRejected,
    OccupancyReading,
    TemperatureReading,
    WasteCategory,
    encode_config,
    encode_telemetry,
    format_ts,
    parse_config,
    parse_status,
    parse_telemetry,
    parse_topic,
    parse_ts,
)
from protocol.codec import MAX_PAYLOAD_BYTES
from tests.protocol.examples import (
    LAST_WILL_EXAMPLE,
    TELEMETRY_READINGS,
    birth_example,
    telemetry_example,
)

NOW = datetime(2026, 11, 23, 3, 0, 5, 120000, tzinfo=UTC)
TOPIC = parse_topic("canteen/site-a/pi-1/telemetry")


def message(*readings: dict[str, object], **envelope: object) -> bytes:
    document = {"v": 1, "seq": 7, "sent": format_ts(NOW), "readings": list(readings)}
    document.update(envelope)
    return json.dumps(document).encode()


def temperature(celsius: object, **extra: object) -> dict[str, object]:
    return {
        "kind": "temperature",
        "sensor": "fridge-1",
        "ts": format_ts(NOW),
        "celsius": celsius,
    } | extra


def test_protocol_example_parses_and_round_trips_through_the_edge_encoder() -> None:
    parsed = parse_telemetry(TOPIC, telemetry_example(NOW), NOW)
    assert parsed.seq == 1042
    assert [r.kind for r in parsed.readings] == [body["kind"] for _, body in TELEMETRY_READINGS]
    assert parsed.rejected == ()
    again = parse_telemetry(TOPIC, encode_telemetry(1042, NOW, parsed.readings), NOW)
    assert again.readings == parsed.readings


def test_status_examples_parse() -> None:
    status_topic = parse_topic("canteen/site-a/pi-1/status")
    birth = parse_status(status_topic, birth_example(NOW))
    assert birth.online is True and birth.sensors == ["fridge-1", "freezer-1"]
    will = parse_status(status_topic, LAST_WILL_EXAMPLE)
    assert will.online is False and will.ts is None


def test_the_issue_example_keeps_the_good_reading_and_rejects_the_string() -> None:
    payload = message(
        temperature("hot"),
        temperature(4.5, sensor="fridge-2"),
    )
    parsed = parse_telemetry(TOPIC, payload, NOW)
    assert [
        (r.sensor, r.celsius) for r in parsed.readings if isinstance(r, TemperatureReading)
    ] == [("fridge-2", 4.5)]
    assert len(parsed.rejected) == 1
    assert parsed.rejected[0].index == 0
    assert "celsius" in parsed.rejected[0].reason


@pytest.mark.parametrize(
    ("reading", "fault"),
    [
        (temperature(True), "celsius"),
        (temperature("3.5"), "celsius"),
        (temperature(150.5), "celsius"),
        (temperature(-60.01), "celsius"),
        (temperature(3, sensor="Fridge 1"), "sensor"),
        (temperature(3, ts="2026-11-23T03:00:05"), "ts"),
        (temperature(3, ts=1763866805), "ts"),
        ({"kind": "door", "sensor": "d", "ts": format_ts(NOW), "open": 1}, "open"),
        (
            {"kind": "waste", "sensor": "b", "ts": format_ts(NOW), "grams": 0, "category": "plate"},
            "grams",
        ),
        (
            {"kind": "waste", "sensor": "b", "ts": format_ts(NOW), "grams": 5, "category": "bones"},
            "category",
        ),
        ({"kind": "waste", "sensor": "b", "ts": format_ts(NOW), "grams": 5}, "category"),
        (
            {
                "kind": "occupancy",
                "sensor": "o",
                "ts": format_ts(NOW),
                "entered": 1.0,
                "exited": 0,
                "present": 1,
            },
            "entered",
        ),
        (
            {
                "kind": "occupancy",
                "sensor": "o",
                "ts": format_ts(NOW),
                "entered": 1,
                "exited": -1,
                "present": 1,
            },
            "exited",
        ),
        ({"kind": "humidity", "sensor": "h", "ts": format_ts(NOW), "rh": 40}, "unknown kind"),
        ([1, 2], "not a JSON object"),
        (temperature(3, ts=format_ts(NOW + timedelta(minutes=6))), "ahead"),
        (temperature(3, ts=format_ts(NOW - timedelta(days=31))), "older"),
    ],
)
def test_a_bad_reading_is_rejected_with_a_reason_naming_the_fault(
    reading: object, fault: str
) -> None:
    parsed = parse_telemetry(TOPIC, message(reading, temperature(2.0)), NOW)
    assert len(parsed.readings) == 1  # the good neighbour survives
    assert len(parsed.rejected) == 1
    assert fault in parsed.rejected[0].reason


def test_an_integer_is_accepted_where_a_float_is_expected() -> None:
    parsed = parse_telemetry(TOPIC, message(temperature(4)), NOW)
    assert isinstance(parsed.readings[0], TemperatureReading)
    assert parsed.readings[0].celsius == 4.0


def test_extra_fields_are_ignored() -> None:
    parsed = parse_telemetry(TOPIC, message(temperature(4, humidity=40)), NOW)
    assert parsed.readings[0].model_dump().get("humidity") is None


@pytest.mark.parametrize(
    ("payload", "fault"),
    [
        (b"not json", "JSON"),
        (b'{"v": 1, "seq": 1, "sent": "2026-11-23T03:00:05Z", "readings": [NaN]}', "JSON"),
        (message(temperature(1), v=1.0), "v"),
        (message(temperature(1), v="1"), "v"),
        (message(temperature(1), v=True), "v"),
        (message(temperature(1), v=2), "v"),
        (message(temperature(1), seq=0), "seq"),
        (message(temperature(1), seq=3.0), "seq"),
        (message(temperature(1), seq=True), "seq"),
        (message(temperature(1), sent="yesterday"), "sent"),
        (message(temperature(1), site="site-b"), "site"),
        (message(temperature(1), device="pi-2"), "device"),
        (message(*[temperature(1)] * 1001), "readings"),
        (b"[" * 100_000, "JSON"),
    ],
)
def test_a_message_level_fault_rejects_the_whole_message(payload: bytes, fault: str) -> None:
    with pytest.raises(MessageRejected, match=fault):
        parse_telemetry(TOPIC, payload, NOW)


def test_an_oversize_message_is_rejected_whole() -> None:
    padded = message(temperature(1, note="x" * MAX_PAYLOAD_BYTES))
    with pytest.raises(MessageRejected, match="over the limit"):
        parse_telemetry(TOPIC, padded, NOW)


def test_payload_site_and_device_equal_to_the_topic_are_fine() -> None:
    parsed = parse_telemetry(TOPIC, message(temperature(1), site="site-a", device="pi-1"), NOW)
    assert len(parsed.readings) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T03:00:05Z", datetime(2026, 11, 23, 3, 0, 5, tzinfo=UTC)),
        ("2026-11-23T11:00:05.250+08:00", datetime(2026, 11, 23, 3, 0, 5, 250000, tzinfo=UTC)),
        ("2026-11-23T03:00:05.123456789Z", datetime(2026, 11, 23, 3, 0, 5, 123456, tzinfo=UTC)),
    ],
)
def test_timestamps_name_the_same_instant_whatever_their_offset(
    text: str, expected: datetime
) -> None:
    assert parse_ts(text) == expected


def test_occupancy_counts_are_integers() -> None:
    body = {
        "kind": "occupancy",
        "sensor": "o",
        "ts": format_ts(NOW),
        "entered": 2,
        "exited": 0,
        "present": 9,
    }
    parsed = parse_telemetry(TOPIC, message(body), NOW)
    assert parsed.readings == (OccupancyReading.model_validate(body),)


def test_a_status_stores_the_refused_and_dropped_counts_as_integers() -> None:
    from protocol import Status
    from protocol.storage import status_point, to_line

    status = Status(
        v=1, online=True, ts=datetime(2026, 11, 23, 3, tzinfo=UTC), refused=4, outbox_dropped=0
    )
    line = to_line(status_point("site-a", "pi-1", status, datetime.now(UTC)))
    assert "refused=4i" in line and "outbox_dropped=0i" in line


CONFIG_TOPIC = parse_topic("canteen/site-a/bin-1/config")
TOO_MANY_BINS = json.dumps({"v": 1, "categories": {f"bin-{i}": "prep" for i in range(65)}}).encode()


@pytest.mark.parametrize(
    ("dish", "category", "categories"),
    [
        ("braised-pork", "prep", None),
        (None, None, None),
        ("rice", None, {"bin-plate": "overproduction", "bin-prep": "prep"}),
        (None, "plate", {"bin-prep": "spoilage"}),
        (None, None, {}),
    ],
)
def test_a_config_round_trips_from_the_hub_encoder_to_the_edge_parser(
    dish: str | None, category: str | None, categories: dict[str, str] | None
) -> None:
    document = {"v": 1, "dish": dish, "category": category, "categories": categories}
    config = DeviceConfig.model_validate(document)
    payload = encode_config(config)
    # a null field is sent: it clears what was pushed before
    assert json.loads(payload) == document
    parsed = parse_config(CONFIG_TOPIC, payload)
    assert parsed == config
    assert (parsed.dish, parsed.category, parsed.categories) == (dish, category, categories)
    assert parsed.category is None or isinstance(parsed.category, WasteCategory)
    assert all(isinstance(c, WasteCategory) for c in (parsed.categories or {}).values())


def test_a_bins_category_is_its_own_entry_else_the_devices_else_none() -> None:
    both = DeviceConfig.model_validate(
        {"v": 1, "category": "prep", "categories": {"bin-plate": "overproduction"}}
    )
    assert both.category_of("bin-plate") is WasteCategory.OVERPRODUCTION
    assert both.category_of("bin-prep") is WasteCategory.PREP  # not in the map: the device's
    per_bin = DeviceConfig.model_validate({"v": 1, "categories": {"bin-plate": "spoilage"}})
    assert per_bin.category_of("bin-plate") is WasteCategory.SPOILAGE
    assert per_bin.category_of("bin-prep") is None  # the bin's own config
    assert DeviceConfig(v=1).category_of("bin-plate") is None


def test_a_config_from_before_per_bin_categories_still_parses() -> None:
    parsed = parse_config(CONFIG_TOPIC, b'{"v": 1, "dish": "rice", "category": "prep"}')
    assert (parsed.categories, parsed.category_of("any-bin")) == (None, WasteCategory.PREP)


def test_a_config_ignores_extra_fields_and_may_omit_the_dish_and_category() -> None:
    assert parse_config(CONFIG_TOPIC, b'{"v": 1, "interval_s": 5}') == DeviceConfig(v=1)
    same = b'{"v": 1, "dish": "rice", "site": "site-a", "device": "bin-1"}'
    assert parse_config(CONFIG_TOPIC, same).dish == "rice"
    assert parse_config(CONFIG_TOPIC, same).category is None
    assert parse_config(CONFIG_TOPIC, same).categories is None


@pytest.mark.parametrize(
    ("payload", "fault"),
    [
        (b'{"v": 1, "dish": "Braised Pork"}', "dish"),
        (b'{"v": 1, "dish": 7}', "dish"),
        (b'{"v": 1, "category": "compost"}', "category"),
        (b'{"v": 1, "category": 1}', "category"),
        (b'{"v": 1, "categories": {"bin-plate": "compost"}}', "categories.bin-plate"),
        (b'{"v": 1, "categories": {"Bin Plate": "prep"}}', "categories"),
        (b'{"v": 1, "categories": {"bin-plate": null}}', "categories.bin-plate"),
        (b'{"v": 1, "categories": ["bin-plate"]}', "categories"),
        (TOO_MANY_BINS, "at most 64"),
        (b'{"v": 2, "dish": "rice"}', "v"),
        (b'{"dish": "rice"}', "v"),
        (b"not json", "JSON"),
        (b'{"v": 1, "device": "bin-2"}', "does not match"),
    ],
)
def test_a_bad_config_is_rejected_with_the_reason(payload: bytes, fault: str) -> None:
    with pytest.raises(MessageRejected, match=fault):
        parse_config(CONFIG_TOPIC, payload)


def test_a_reading_marked_clock_unverified_is_stored_with_the_mark() -> None:
    from protocol import TemperatureReading
    from protocol.storage import reading_point, to_line

    ts = datetime(2026, 11, 23, 3, tzinfo=UTC)
    marked = TemperatureReading(sensor="fridge-1", ts=ts, celsius=3.5, clock_unverified=True)
    plain = TemperatureReading(sensor="fridge-1", ts=ts, celsius=3.5)
    assert "clock_unverified=true" in to_line(reading_point("site-a", "pi-1", marked))
    assert "clock_unverified" not in to_line(reading_point("site-a", "pi-1", plain))
    with pytest.raises(ValueError, match="clock_unverified"):
        TemperatureReading.model_validate(
            {"sensor": "fridge-1", "ts": ts, "celsius": 3.5, "clock_unverified": "yes"}
        )
