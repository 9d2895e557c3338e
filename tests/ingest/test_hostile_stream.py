"""Hostile messages mixed with good ones, through the real broker, ingest and InfluxDB.

Every good reading lands, the ingest keeps running, and every bad message or reading is
counted and kept in the dead-letter store with its reason and its raw payload.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from canteen.settings import InfluxSettings
from ingest.deadletters import DeadLetterStore, StoredDeadLetter
from protocol import MAX_PAYLOAD_BYTES, MAX_READINGS, epoch_ms, format_ts
from tests.conftest import RunningIngest
from tests.waiting import wait_until
from timeseries import InfluxQL

pytestmark = pytest.mark.integration

SITE = "site-hostile"
Publish = Callable[..., None]


@dataclass(frozen=True)
class Bad:
    """A hostile message: its topic's device, raw payload, and what its dead letters say."""

    name: str
    payload: bytes
    reasons: tuple[str, ...]  # one per dead letter this message yields
    device: str = "pi-1"
    channel: str = "telemetry"


def temp(sensor: str, ts: datetime, celsius: object = 4.0, **extra: object) -> dict[str, object]:
    body = {"kind": "temperature", "sensor": sensor, "ts": format_ts(ts), "celsius": celsius}
    return body | extra


def envelope(seq: int, sent: datetime, *readings: object, **extra: object) -> bytes:
    document = {"v": 1, "seq": seq, "sent": format_ts(sent), "readings": list(readings)}
    return json.dumps(document | extra).encode()


def spliced(number: int, sent: datetime, readings_json: str, **raw: str) -> bytes:
    """A message with raw JSON text spliced in for its readings and any envelope value."""
    parts = {"v": "1", "seq": str(number), "sent": json.dumps(format_ts(sent))} | raw
    parts["readings"] = readings_json
    return ("{" + ",".join(f'"{k}":{v}' for k, v in parts.items()) + "}").encode()


def hostile(now: datetime) -> list[Bad]:
    """Every kind of bad input, each carrying a readable `reasons` fragment per dead letter."""
    ok = json.dumps(temp("neighbour", now))
    deep = "[" * 1000 + "]" * 1000
    return [
        Bad("truncated", envelope(1, now, temp("t", now))[:-7], ("JSON",)),
        Bad("bom", b"\xef\xbb\xbf" + envelope(1, now, temp("t", now)), ("BOM",)),
        Bad("utf-16", envelope(1, now, temp("t", now)).decode().encode("utf-16"), ("JSON",)),
        Bad("not utf-8", b"\xff\xfe\x00garbage", ("JSON",)),
        Bad("nan", spliced(1, now, f'[{ok[:-1]}, "x": NaN}}]'), ("NaN is not allowed",)),
        Bad("infinity", spliced(1, now, "[]", spare="Infinity"), ("Infinity",)),
        Bad("-infinity", spliced(1, now, "[]", seq="-Infinity"), ("-Infinity",)),
        Bad("huge int", spliced(1, now, "[]", spare="1" + "0" * 5000), ("JSON",)),
        Bad("seq 2**63", spliced(1, now, "[]", seq=str(2**63)), ("seq",)),
        Bad("v 2", spliced(1, now, "[]", v="2"), ("v:",)),
        Bad("v 1.0", spliced(1, now, "[]", v="1.0"), ("v:",)),
        Bad("v true", spliced(1, now, "[]", v="true"), ("v:",)),
        Bad("v '1'", spliced(1, now, "[]", v='"1"'), ("v:",)),
        Bad(
            "oversize",
            envelope(1, now, temp("t", now, note="x" * MAX_PAYLOAD_BYTES)),
            ("over the limit",),
        ),
        Bad(
            "1001 readings", envelope(1, now, *[temp("t", now)] * (MAX_READINGS + 1)), ("readings",)
        ),
        Bad("deep 100000", ("[" * 100_000 + "]" * 100_000).encode(), ("JSON",)),
        Bad("deep 1000", spliced(1, now, f"[{deep}]"), ("deep",)),
        Bad("site mismatch", envelope(1, now, temp("t", now), site="site-other"), ("site",)),
        Bad("device mismatch", envelope(1, now, temp("t", now), device="pi-9"), ("device",)),
        Bad("null site", envelope(1, now, temp("t", now), site=None), ("null",)),
        Bad(
            "homoglyph topic", envelope(1, now, temp("t", now)), ("not a slug",), device="pi-\u0430"
        ),
        Bad(
            "status overflow",
            json.dumps({"v": 1, "online": True, "ts": "0001-01-01T00:00:00+01:00"}).encode(),
            ("ts",),
            channel="status",
        ),
        Bad(
            "status year 9999",
            json.dumps({"v": 1, "online": True, "ts": "9999-12-31T23:59:59Z"}).encode(),
            ("InfluxDB refused",),
            device="pi-late",
            channel="status",
        ),
        # Reading-level faults: the neighbour of each lands.
        Bad(
            "mixed readings",
            envelope(
                2,
                now,
                temp("hot", now, "hot"),
                temp("fridge-\u0430", now),
                temp("fridge\u200b-1", now),
                temp("fridge-\u202e1", now),
                temp("fridge\x00", now),
                temp("fridge-\U0001f9ca", now),
                {
                    "kind": "waste",
                    "sensor": "bin",
                    "ts": format_ts(now),
                    "grams": 5,
                    "category": "plate",
                    "dish": "\u7ea2\u70e7\u8089",
                },
                {"kind": "humidity", "sensor": "h", "ts": format_ts(now), "rh": 40},
                temp("future", now + timedelta(minutes=10)),
                temp("past", now - timedelta(days=40)),
                temp("overflow", now) | {"ts": "9999-12-31T23:59:59-01:00"},
                [[[[]]]],
                temp("neighbour", now),
            ),
            (
                "celsius",
                "sensor",
                "sensor",
                "sensor",
                "sensor",
                "sensor",
                "dish",
                "unknown kind",
                "ahead",
                "older",
                "real date",
                "not a JSON object",
            ),
        ),
        Bad(
            "huge celsius",
            spliced(3, now, "[" + ok.replace('"celsius": 4.0', '"celsius": 1e400') + "]"),
            ("finite",),
        ),
    ]


@dataclass(frozen=True)
class Good:
    """A good message, with the readings it must land in InfluxDB."""

    device: str
    payload: bytes
    sensors: tuple[str, ...]


def good(index: int, now: datetime) -> Good:
    ts = now - timedelta(seconds=index)
    sensor = f"probe-{index}"
    return Good("pi-1", envelope(100 + index, now, temp(sensor, ts, 2.0 + index / 10)), (sensor,))


def test_a_hostile_stream_lands_every_good_reading_and_dead_letters_every_bad_one(
    start_ingest: Callable[..., RunningIngest],
    v1_influx: InfluxSettings,
    influxql: InfluxQL,
    publisher: Publish,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ingest = start_ingest(v1_influx)
    now = datetime.now(UTC).replace(microsecond=0)
    bads = hostile(now)
    goods = [good(i, now) for i in range(len(bads) + 1)]
    # Replayed, duplicate and lower seq: processed like any other, only counted.
    replays = [envelope(seq, now, temp("replayed", now)) for seq in (50, 50, 49, 1, 50)]
    for index, item in enumerate(goods):
        publisher(f"canteen/{SITE}/{item.device}/telemetry", item.payload)
        if index < len(bads):
            bad = bads[index]
            publisher(f"canteen/{SITE}/{bad.device}/{bad.channel}", bad.payload)
    for payload in replays:
        publisher(f"canteen/{SITE}/pi-replay/telemetry", payload)

    expected_sensors = {s for item in goods for s in item.sensors} | {"neighbour", "replayed"}

    def stored() -> list[dict[str, object]]:
        return influxql.rows(f"SELECT * FROM temperature WHERE site = '{SITE}'")  # noqa: S608

    rows = wait_until(
        lambda: (found := stored()) and {r["sensor"] for r in found} >= expected_sensors and found,
        timeout=30,
        message="every good reading in InfluxDB",
    )
    assert {r["sensor"] for r in rows} == expected_sensors, "a bad reading was stored"
    for item in goods:
        [row] = [r for r in rows if r["sensor"] == item.sensors[0]]
        assert row["device"] == "pi-1"
    replayed = [r for r in rows if r["sensor"] == "replayed"]
    assert len(replayed) == 1 and replayed[0]["time"] == epoch_ms(now)  # five deliveries, one point
    neighbours = [r for r in rows if r["sensor"] == "neighbour"]
    assert len(neighbours) == 1  # the good neighbour in the mixed message

    store = DeadLetterStore(ingest.settings.hub_db)
    expected_letters = sum(len(bad.reasons) for bad in bads)
    letters = wait_until(
        lambda: store.count() >= expected_letters and store.latest(500),
        timeout=30,
        message=f"{expected_letters} dead letters",
    )
    assert len(letters) == expected_letters
    _check_every_bad_message_is_kept(bads, letters)
    assert not influxql.rows("SHOW SERIES WHERE device = 'pi-late'")
    # Nothing else was created: no status point, no measurement or series from bad input.
    # The session's broker holds other tests' retained birth messages, which a new ingest
    # stores as device_status of their own sites: those alone are set aside.
    series = {
        r["key"]
        for r in influxql.rows("SHOW SERIES")
        if not (r["key"].startswith("device_status,") and f"site={SITE}" not in r["key"])
    }
    assert series == {
        f"temperature,device={'pi-replay' if s == 'replayed' else 'pi-1'},sensor={s},site={SITE}"
        for s in expected_sensors
    }

    assert ingest.thread.is_alive()
    # And it still takes good data afterwards.
    later = now + timedelta(seconds=1)
    publisher(f"canteen/{SITE}/pi-1/telemetry", envelope(999, later, temp("after", later)))
    wait_until(lambda: any(r["sensor"] == "after" for r in stored()), timeout=15)
    store.close()

    # Counted: the ingest's totals, logged when it stops.
    ingest.stop()
    [stopped] = [r for r in caplog.records if r.getMessage().startswith("ingest stopped")]
    counters = stopped.args[0]  # type: ignore[index]
    reading_faults = sum(
        len(b.reasons) for b in bads if len(b.reasons) > 1 or "finite" in b.reasons
    )
    refused = sum(1 for b in bads if b.reasons[0].startswith("InfluxDB"))
    assert counters.readings_rejected == reading_faults
    assert counters.lines_refused == refused
    assert counters.messages_rejected == len(bads) - refused - 2
    warned = [r for r in caplog.records if r.getMessage().startswith("rejected ")]
    assert len(warned) == expected_letters - refused


def _check_every_bad_message_is_kept(bads: list[Bad], letters: list[StoredDeadLetter]) -> None:
    for bad in bads:
        topic = f"canteen/{SITE}/{bad.device}/{bad.channel}"
        mine = [letter for letter in letters if letter.topic == topic]
        if bad.reasons[0].startswith("InfluxDB"):
            [letter] = [x for x in mine if x.reason.startswith("InfluxDB refused")]
            assert letter.payload.startswith(b"device_status,device=pi-late"), bad.name
        elif len(bad.reasons) == 1 and bad.reasons != ("finite",):
            matching = [letter for letter in mine if letter.payload == bad.payload]
            assert len(matching) == 1, f"{bad.name}: no dead letter with its raw payload"
            assert matching[0].reading_index is None
            assert bad.reasons[0] in matching[0].reason, (bad.name, matching[0].reason)
        else:
            readings = [x for x in mine if x.reading_index is not None]
            if bad.reasons == ("finite",):
                readings = [x for x in readings if "finite" in x.reason]
            else:
                readings = [x for x in readings if "finite" not in x.reason]
            readings.sort(key=lambda letter: letter.reading_index or 0)
            assert len(readings) == len(bad.reasons), bad.name
            for index, (letter, fragment) in enumerate(zip(readings, bad.reasons, strict=True)):
                assert letter.reading_index == index
                assert letter.reason.startswith(f"reading {index}: ")
                assert fragment in letter.reason, (bad.name, index, letter.reason)
                assert json.loads(letter.payload) is not None  # the raw reading, as JSON
