"""The fast telemetry path gives exactly what the models give, or steps aside."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocol import (
    DoorReading,
    MessageRejected,
    OccupancyReading,
    TemperatureReading,
    WasteCategory,
    WasteReading,
    encode_telemetry,
    epoch_ms,
    format_ts,
    parse_telemetry,
    parse_topic,
    reading_point,
    to_line,
)
from protocol.fast_telemetry import fast_telemetry

NOW = datetime(2026, 11, 23, 3, 0, 5, 123456, tzinfo=UTC)
TOPIC = parse_topic("canteen/site-a/pi-1/telemetry")


def full_path(payload: bytes) -> tuple[int, datetime, list[str], int] | None:
    """What parse_telemetry and the storage mapping make of a message (None: rejected)."""
    try:
        parsed = parse_telemetry(TOPIC, payload, NOW)
    except MessageRejected:
        return None
    lines = [to_line(reading_point(TOPIC.site, TOPIC.device, r)) for r in parsed.readings]
    return parsed.seq, parsed.sent, lines, len(parsed.rejected)


def check_same(payload: bytes) -> bool:
    """Assert the fast path agrees with the full one; return whether it answered."""
    fast = fast_telemetry(TOPIC, payload, NOW)
    if fast is None:
        return False
    full = full_path(payload)
    assert full is not None, "the fast path took a message the models reject"
    seq, sent, lines, rejected = full
    assert rejected == 0, "the fast path took a message with a reading to reject"
    assert (fast.seq, fast.sent_ms, fast.lines) == (seq, epoch_ms(sent), lines)
    return True


def agent_ts(offset: timedelta) -> str:
    return format_ts(NOW + offset)


timestamps = st.one_of(
    st.timedeltas(min_value=timedelta(days=-31), max_value=timedelta(minutes=6)).map(agent_ts),
    st.sampled_from(
        [
            agent_ts(timedelta(minutes=5)),  # the future edge, to the millisecond
            agent_ts(timedelta(minutes=5, milliseconds=1)),
            agent_ts(-timedelta(days=30)),
            "2026-11-23T03:00:05Z",  # valid RFC 3339 the fast path does not read
            "2026-11-23T03:00:05.123+00:00",
            "2026-11-23t03:00:05.123z",
            "2026-11-23T03:00:05.123456Z",
            "2026-13-23T03:00:05.123Z",  # no 13th month
            "0000-11-23T03:00:05.123Z",
            "2026-11-23T03:00:05.12Z",
            "\u0662026-11-23T03:00:05.123Z",  # a non-ASCII digit
        ]
    ),
    st.integers(),
    st.none(),
)
slugs = st.one_of(
    st.sampled_from(["fridge-1", "a", "0", "x" * 63, "x" * 64, "Fridge", "-a", "a b", "", "é"]),
    st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,62}\Z"),
    st.integers(),
    st.none(),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 0.0, -60, 150, 150.0001, -60.0001, 1_000_000, 1_000_000.5, 5e-324]),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)
counts = st.one_of(
    st.integers(min_value=-5, max_value=2**64),
    st.sampled_from([2**63 - 1, 2**63]),
    st.floats(),
    st.booleans(),
    st.none(),
)
maybe_flag = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, "true"]))
categories = st.one_of(st.sampled_from([*WasteCategory, "PLATE", "food", ""]), st.integers())


VALID_VALUES: dict[str, dict[str, Any]] = {
    "temperature": {"celsius": 3.5},
    "door": {"open": False},
    "waste": {"grams": 120.0, "category": "plate", "dish": "rice"},
    "occupancy": {"entered": 3, "exited": 1, "present": 40},
}
HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(["temperature", "door", "waste", "occupancy", "smoke", 1, None]),
    "sensor": slugs,
    "ts": timestamps,
    "celsius": numbers,
    "open": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", None])),
    "grams": numbers,
    "category": categories,
    "dish": slugs,
    "entered": counts,
    "exited": counts,
    "present": counts,
    "clock_unverified": maybe_flag,
    "note": st.text(max_size=5),
}


@st.composite
def readings(draw: st.DrawFn) -> Any:
    """A valid reading, then (usually) one or two of its fields made hostile."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.none())))
    kind = draw(st.sampled_from(sorted(VALID_VALUES)))
    raw: dict[str, Any] = {"kind": kind, "sensor": "probe-1", "ts": agent_ts(timedelta(0))}
    raw.update(VALID_VALUES[kind])
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(HOSTILE)))
        if draw(st.integers(0, 5)) == 0:
            raw.pop(name, None)
        else:
            raw[name] = draw(HOSTILE[name])
    return raw


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid envelope, then (often) one of its fields made hostile."""
    document: dict[str, Any] = {
        "v": 1,
        "seq": draw(st.integers(1, 2**63 - 1)),
        "sent": agent_ts(timedelta(0)),
        "readings": draw(st.lists(readings(), max_size=3)),
    }
    hostile: dict[str, st.SearchStrategy[Any]] = {
        "v": st.sampled_from([1.0, True, 2, "1", None]),
        "seq": st.one_of(st.integers(-2, 2**64), st.sampled_from([0, 2**63, 1.0, True])),
        "sent": timestamps,
        "readings": st.one_of(st.none(), st.dictionaries(st.text(max_size=2), st.none())),
        "site": st.sampled_from(["site-a", "site-b", None]),
        "device": st.sampled_from(["pi-1", "pi-2", None]),
    }
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(hostile)))
        if name in document and draw(st.integers(0, 5)) == 0:
            del document[name]
        else:
            document[name] = draw(hostile[name])
    return document


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes())
@example({"v": 1, "seq": 1, "sent": agent_ts(timedelta(0)), "readings": []})
def test_the_fast_path_never_differs_from_the_models(document: dict[str, Any]) -> None:
    check_same(json.dumps(document, allow_nan=True).encode())


def valid_readings() -> st.SearchStrategy[Any]:
    ts = st.timedeltas(min_value=timedelta(days=-29), max_value=timedelta(minutes=4)).map(
        lambda offset: (NOW + offset).replace(microsecond=(NOW + offset).microsecond // 1000 * 1000)
    )
    sensor = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
    flag = st.sampled_from([None, True, False])
    return st.one_of(
        st.builds(
            TemperatureReading,
            sensor=sensor,
            ts=ts,
            celsius=st.floats(-60, 150),
            clock_unverified=flag,
        ),
        st.builds(DoorReading, sensor=sensor, ts=ts, open=st.booleans()),
        st.builds(
            WasteReading,
            sensor=sensor,
            ts=ts,
            grams=st.floats(0.001, 1_000_000),
            category=st.sampled_from(WasteCategory),
            dish=st.one_of(st.none(), sensor),
        ),
        st.builds(
            OccupancyReading,
            sensor=sensor,
            ts=ts,
            entered=st.integers(0, 2**63 - 1),
            exited=st.integers(0, 100),
            present=st.integers(0, 2000),
        ),
    )


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 2**63 - 1), st.lists(valid_readings(), min_size=1, max_size=20))
def test_what_agents_send_takes_the_fast_path(seq: int, batch: list[Any]) -> None:
    assert check_same(encode_telemetry(seq, NOW, batch)), "an agent's message missed the fast path"


def test_a_message_with_one_bad_reading_takes_the_full_path() -> None:
    good = {"kind": "door", "sensor": "door-1", "ts": agent_ts(timedelta(0)), "open": True}
    bad = {**good, "open": "yes"}
    payload = json.dumps({"v": 1, "seq": 3, "sent": good["ts"], "readings": [good, bad]})
    assert fast_telemetry(TOPIC, payload.encode(), NOW) is None
    full = full_path(payload.encode())
    assert full is not None and len(full[2]) == 1 and full[3] == 1


EDGES: dict[str, list[Any]] = {
    "celsius": [-60.0001, -60, -60.0, 150, 150.0, 150.0001, 150.5, 151, -61, 1e999, -1e999],
    "grams": [0, 0.0, -0.0, 5e-324, 1, 1_000_000, 1_000_000.0, 1_000_000.5, 1_000_001, 1e999],
    "entered": [-1, 0, 2**63 - 1, 2**63, 2**64, 1.0, 0.0],
    "exited": [-1, 0, 2**63 - 1, 2**63],
    "present": [-1, 0, 2**63 - 1, 2**63],
    "open": [True, False, 0, 1, "false", None],
    "category": [*(c.value for c in WasteCategory), "PLATE", "Plate", "plate ", "food", "", None],
    "dish": ["rice", "r", "x" * 63, "x" * 64, "Rice", "rice soup", "-rice", "", None, 7],
    "sensor": ["probe-1", "x" * 63, "x" * 64, "Probe", "", "é", None, 7],
    "clock_unverified": [True, False, None, 0, 1, "true"],
    "kind": ["temperature", "door", "waste", "occupancy", "Door", "", None],
    "ts": [
        agent_ts(-timedelta(days=30)),  # NOW has microseconds: this is just too old
        agent_ts(-timedelta(days=30) + timedelta(milliseconds=1)),
        agent_ts(timedelta(minutes=5)),
        agent_ts(timedelta(minutes=5, milliseconds=1)),
        "2026-11-23T03:00:05.123+00:00",
        "2026-11-23T03:00:60.123Z",  # a leap second
        "2026-11-23T24:00:05.123Z",
        "2026-11-23T03:60:05.123Z",
        "2026-02-29T03:00:05.123Z",
    ],
    "note": [[[]] * 3, "{[{[", {"a": [1, {"b": 2}]}],
}


def test_every_field_boundary_agrees_with_the_models() -> None:
    answered = 0
    for kind, values in VALID_VALUES.items():
        for name, edges in EDGES.items():
            for value in [*edges, True, False, "3", None, [], {}]:
                raw = {"kind": kind, "sensor": "probe-1", "ts": agent_ts(timedelta(0)), **values}
                raw[name] = value
                document = {"v": 1, "seq": 1, "sent": agent_ts(timedelta(0)), "readings": [raw]}
                answered += check_same(json.dumps(document).encode())
    assert answered > 100  # the valid edges took the fast path


def test_nesting_over_the_limit_anywhere_is_left_to_the_models() -> None:
    deep: Any = 0
    for _ in range(70):
        deep = [deep]
    reading = {"kind": "door", "sensor": "d", "ts": agent_ts(timedelta(0)), "open": True}
    for document in (
        {"v": 1, "seq": 1, "sent": reading["ts"], "readings": [{**reading, "x": deep}]},
        {"v": 1, "seq": 1, "sent": reading["ts"], "readings": [reading], "x": deep},
    ):
        payload = json.dumps(document).encode()
        assert fast_telemetry(TOPIC, payload, NOW) is None and full_path(payload) is None
    many = {"v": 1, "seq": 1, "sent": reading["ts"], "readings": [reading] * 100}
    assert check_same(json.dumps(many).encode())  # many readings are not deep nesting


def one_reading(raw: dict[str, Any]) -> bytes:
    document = {"v": 1, "seq": 1, "sent": agent_ts(timedelta(0)), "readings": [raw]}
    return json.dumps(document).encode()


def test_a_series_or_second_seen_before_vouches_for_no_look_alike() -> None:
    """The fast path remembers valid series heads and seconds; a near miss is not one."""
    ts = agent_ts(timedelta(0))
    bin_without_dish = {"kind": "waste", "sensor": "bin-1", "ts": ts, "grams": 80.0}
    bin_without_dish["category"] = "plate"
    probe = {"kind": "temperature", "sensor": "probe-1", "ts": ts, "celsius": 4.0}
    assert check_same(one_reading(bin_without_dish)) and check_same(one_reading(probe))
    look_alikes = [
        {**bin_without_dish, "dish": ""},
        {**bin_without_dish, "dish": "Rice"},
        {**bin_without_dish, "sensor": "Bin-1"},
        {**bin_without_dish, "category": "Plate"},
        {**probe, "sensor": "probe-1 "},
        {**probe, "kind": "door", "open": True, "sensor": "Probe-1"},
        {**probe, "ts": ts[:20] + "1\u0663" + ts[22:]},  # a non-ASCII digit in the ms
        {**probe, "ts": ts[:20] + "1 3" + ts[23:]},
        {**probe, "ts": ts[:19] + "," + ts[20:]},
        {**probe, "ts": ts[:17] + "60" + ts[19:]},  # a leap second in a cached minute
        {**probe, "ts": ts[:17] + "6" + ts[18:]},  # second 6x of a cached minute
        {**probe, "ts": ts[:17] + "0\u0663" + ts[19:]},  # a non-ASCII last second digit
        {**probe, "ts": ts[:17] + "\u0663" + ts[18:]},
        {**probe, "ts": ts[:16] + "." + ts[17:]},
        {**probe, "ts": ts[:16] + ts[19:]},  # the minute alone
    ]
    for raw in look_alikes:
        payload = one_reading(raw)
        assert fast_telemetry(TOPIC, payload, NOW) is None, raw
        assert full_path(payload) is None or full_path(payload)[3] == 1  # type: ignore[index]


def test_what_the_fast_path_remembers_stays_bounded() -> None:
    """A stream of ever-new sensors and seconds cannot grow the caches without end."""
    import protocol.fast_telemetry as fast

    for n in range(6000):
        raw = {
            "kind": "temperature",
            "sensor": f"probe-{n}",
            "ts": agent_ts(-timedelta(seconds=n)),
            "celsius": 4.0,
        }
        assert fast_telemetry(TOPIC, one_reading(raw), NOW) is not None
    heads = sum(len(of_kind) for device in fast._heads.values() for of_kind in device.values())
    assert heads <= 4096 and fast._head_count <= 4096
    assert len(fast._tens) <= 4096 and len(fast._minutes) <= 4096


def test_a_remembered_temperature_text_is_that_number_only() -> None:
    """0.0 and -0.0 are equal but print apart; an int is stored as its float."""
    ts = agent_ts(timedelta(0))
    for celsius in [0.0, -0.0, 0.0, 0, -0.0, 4, 4.0, 4, 3.62, -3.62, 150, 150.0, -60, 1e-300]:
        raw = {"kind": "temperature", "sensor": "probe-1", "ts": ts, "celsius": celsius}
        assert check_same(one_reading(raw)), celsius
    many = [
        {"kind": "temperature", "sensor": "probe-1", "ts": ts, "celsius": c}
        for c in [-0.0, 0.0, 2, 2.0, -0.0]
    ]
    document = {"v": 1, "seq": 1, "sent": ts, "readings": many}
    assert check_same(json.dumps(document).encode())


def test_times_far_back_agree_with_the_models_under_any_max_age() -> None:
    """Bounds compared as text: an oldest time before 1970, and before year 1000."""
    stamps = [
        "0001-01-01T00:00:00.000Z",
        "0999-12-31T23:59:59.999Z",
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
        "1970-01-01T00:00:00.999Z",
        "1970-01-01T00:00:01.000Z",
        "1970-01-01T00:00:09.999Z",
        "1970-01-01T00:00:10.000Z",
        "1970-01-01T00:01:00.000Z",
        "2000-02-29T12:00:00.000Z",
        agent_ts(timedelta(0)),
    ]
    for max_age in (timedelta(days=30), timedelta(days=60 * 365), timedelta(days=1500 * 365)):
        for ts in stamps:
            raw = {"kind": "door", "sensor": "d", "ts": ts, "open": True}
            payload = json.dumps({"v": 1, "seq": 1, "sent": ts, "readings": [raw]}).encode()
            fast = fast_telemetry(TOPIC, payload, NOW, max_age)
            try:
                parsed = parse_telemetry(TOPIC, payload, NOW, max_age)
            except MessageRejected:
                assert fast is None
                continue
            if parsed.rejected:
                assert fast is None, (ts, max_age)
                continue
            if fast is None:  # allowed, but expected only in the epoch's first ten seconds
                assert ts < "1970-01-01T00:00:10", (ts, max_age)
                continue
            lines = [to_line(reading_point(TOPIC.site, TOPIC.device, r)) for r in parsed.readings]
            assert (fast.sent_ms, fast.lines) == (epoch_ms(parsed.sent), lines)
    # today's agent time takes the fast path under every one of those ages
    today = {"kind": "door", "sensor": "d", "ts": agent_ts(timedelta(0)), "open": True}
    for max_age in (timedelta(days=30), timedelta(days=1500 * 365)):
        assert fast_telemetry(TOPIC, one_reading(today), NOW, max_age) is not None


def test_each_device_and_kind_has_its_own_series_heads() -> None:
    """A head remembered for one device or kind never stands in for another's."""
    ts = agent_ts(timedelta(0))
    other = parse_topic("canteen/site-b/pi-1/telemetry")
    probe = {"kind": "temperature", "sensor": "probe-7", "ts": ts, "celsius": 4.0}
    door = {"kind": "door", "sensor": "probe-7", "ts": ts, "open": True}
    count = {"kind": "occupancy", "sensor": "probe-7", "ts": ts, "entered": 1}
    count.update(exited=0, present=3)
    for raw in (probe, door, count):
        mine = fast_telemetry(TOPIC, one_reading(raw), NOW)
        theirs = fast_telemetry(other, one_reading(raw), NOW)
        assert mine is not None and theirs is not None
        assert mine.lines[0].startswith(f"{raw['kind']},device=pi-1,sensor=probe-7,site=site-a ")
        assert theirs.lines[0].startswith(f"{raw['kind']},device=pi-1,sensor=probe-7,site=site-b ")


def test_forgetting_the_heads_during_a_message_keeps_its_lines_right() -> None:
    """The heads are cleared in place when full; a message in progress still gets its lines."""
    import protocol.fast_telemetry as fast

    ts = agent_ts(timedelta(0))
    fast._head_count = fast._CACHE_MAX - 1  # the next new series fills the heads
    many = [
        {"kind": "temperature", "sensor": f"probe-{n % 3}", "ts": ts, "celsius": 4.0 + n}
        for n in range(9)
    ]
    document = {"v": 1, "seq": 1, "sent": ts, "readings": many}
    assert check_same(json.dumps(document).encode())
    assert fast._head_count < 10
