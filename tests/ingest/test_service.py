"""The ingest loop writes good points, dead-letters bad input and acks only after the write."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.deadletters import DeadLetterStore
from ingest.pipeline import Inbound, MessageProcessor
from ingest.service import Ingest
from ingest.writer import SureWriter
from protocol import format_ts
from tests.ingest.sources import ListSource
from tests.protocol.examples import telemetry_example
from timeseries import WriteFailed, WriteRejected

NOW = datetime(2026, 11, 23, 3, 0, 5, tzinfo=UTC)


class RecordingWriter:
    """A LineWriter that keeps what it was given and fails as told."""

    def __init__(self, failures: int = 0, refuse: str | None = None) -> None:
        self.failures = failures
        self.refuse = refuse
        self.stored: list[str] = []
        self.calls = 0

    def write(self, lines: Sequence[str]) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise WriteFailed("InfluxDB answered 503")
        if self.refuse is not None and any(self.refuse in line for line in lines):
            raise WriteRejected(400, "partial write: field type conflict")
        self.stored.extend(lines)

    def close(self) -> None:
        pass


def inbound(payload: bytes, mid: int, topic: str = "canteen/site-a/pi-1/telemetry") -> Inbound:
    return Inbound(topic, payload, NOW, mid=mid, qos=1)


def run_once(
    messages: list[Inbound], writer: RecordingWriter, tmp_path: Path
) -> tuple[Ingest, list[int], DeadLetterStore]:
    inbox = ListSource()
    for message in messages:
        inbox.put(message)
    acked: list[int] = []
    store = DeadLetterStore(tmp_path / "hub.sqlite3")
    ingest = Ingest(
        inbox,
        MessageProcessor(),
        SureWriter(writer, threading.Event(), backoff_s=(0.001, 0.002)),
        store,
        lambda batch: acked.extend(m.mid for m in batch),
    )
    ingest.step(timeout=0.1)
    return ingest, acked, store


def test_the_issue_example_writes_fridge_2_and_dead_letters_fridge_1(tmp_path: Path) -> None:
    now = format_ts(NOW)
    payload = json.dumps(
        {
            "v": 1,
            "seq": 7,
            "sent": now,
            "readings": [
                {"kind": "temperature", "sensor": "fridge-1", "ts": now, "celsius": "hot"},
                {"kind": "temperature", "sensor": "fridge-2", "ts": now, "celsius": 4.5},
            ],
        }
    ).encode()
    writer = RecordingWriter()
    ingest, acked, store = run_once([inbound(payload, 1)], writer, tmp_path)
    assert len(writer.stored) == 1 and "sensor=fridge-2" in writer.stored[0]
    assert acked == [1]
    [letter] = store.latest()
    assert "reading 0" in letter.reason and "celsius" in letter.reason
    assert json.loads(letter.payload)["sensor"] == "fridge-1"
    assert ingest.counters.readings_rejected == 1 and ingest.counters.readings_written == 1


def test_bad_json_is_dead_lettered_whole_and_its_neighbours_still_land(tmp_path: Path) -> None:
    writer = RecordingWriter()
    messages = [inbound(b"{oops", 1), inbound(telemetry_example(NOW), 2)]
    ingest, acked, store = run_once(messages, writer, tmp_path)
    assert len(writer.stored) == 4
    assert acked == [1, 2]
    assert store.count() == 1 and "JSON" in store.latest()[0].reason
    assert ingest.counters.messages_rejected == 1


def test_a_transient_failure_is_retried_and_nothing_is_acked_before_the_write(
    tmp_path: Path,
) -> None:
    writer = RecordingWriter(failures=3)
    _, acked, _ = run_once([inbound(telemetry_example(NOW), 9)], writer, tmp_path)
    assert writer.calls == 4
    assert len(writer.stored) == 4
    assert acked == [9]


def test_writes_stop_retrying_on_stop_and_ack_nothing(tmp_path: Path) -> None:
    inbox = ListSource()
    inbox.put(inbound(telemetry_example(NOW), 3))
    stop = threading.Event()
    acked: list[int] = []

    class AlwaysDown(RecordingWriter):
        def write(self, lines: Sequence[str]) -> None:
            stop.set()
            raise WriteFailed("connection refused")

    ingest = Ingest(
        inbox,
        MessageProcessor(),
        SureWriter(AlwaysDown(), stop, backoff_s=(0.001, 0.002)),
        DeadLetterStore(tmp_path / "hub.sqlite3"),
        lambda batch: acked.extend(m.mid for m in batch),
    )
    with pytest.raises(WriteFailed):
        ingest.step(timeout=0.1)
    assert acked == []


def test_a_line_influx_refuses_is_isolated_and_the_rest_land(tmp_path: Path) -> None:
    writer = RecordingWriter(refuse="sensor=bin-plate")
    ingest, acked, store = run_once([inbound(telemetry_example(NOW), 4)], writer, tmp_path)
    assert len(writer.stored) == 3
    assert not any("bin-plate" in line for line in writer.stored)
    assert acked == [4]
    [letter] = store.latest()
    assert letter.reason.startswith("InfluxDB refused") and b"bin-plate" in letter.payload
    assert ingest.counters.lines_refused == 1


def test_status_messages_become_device_status_points(tmp_path: Path) -> None:
    writer = RecordingWriter()
    will = inbound(b'{"v": 1, "online": false}', 5, topic="canteen/site-a/pi-1/status")
    run_once([will], writer, tmp_path)
    assert writer.stored == [
        f"device_status,device=pi-1,site=site-a online=false {int(NOW.timestamp() * 1000)}"
    ]


def test_seq_gaps_repeats_and_skew_are_counted(tmp_path: Path) -> None:
    messages = [inbound(telemetry_example(NOW, seq=s), s) for s in (1, 2, 5, 5, 3)]
    ingest, _, _ = run_once(messages, RecordingWriter(), tmp_path)
    record = ingest.ledger.devices[("site-a", "pi-1")]
    assert (record.last_seq, record.gaps, record.repeats, record.messages) == (5, 2, 2, 5)
    assert record.skew_s == 0.0


def test_run_parses_the_next_batch_while_one_is_written_and_acks_each_after_its_write(
    tmp_path: Path,
) -> None:
    batches = [[inbound(telemetry_example(NOW, seq=n), n)] for n in (1, 2, 3)]
    collected: list[int] = []
    second_parsed = threading.Event()
    events: list[str] = []
    stop = threading.Event()

    class Batches:
        def collect(self, timeout: float) -> list[Inbound]:
            collected.append(len(collected))
            if len(collected) == 3:  # batch 2 was parsed and handed on before this call
                second_parsed.set()
            if len(collected) <= len(batches):
                return batches[len(collected) - 1]
            stop.wait(timeout)
            return []

    class OverlapWriter(RecordingWriter):
        def write(self, lines: Sequence[str]) -> None:
            if not events:  # the first write lasts until the next batch is parsed
                assert second_parsed.wait(5), "the next batch was not parsed during the write"
            events.append(f"write {len(events) // 2 + 1}")
            super().write(lines)

    def ack(batch: Sequence[Inbound]) -> None:
        events.extend(f"ack {m.mid}" for m in batch)
        if len(events) == 6:
            stop.set()

    ingest = Ingest(
        Batches(),
        MessageProcessor(),
        SureWriter(OverlapWriter(), stop, backoff_s=(0.001, 0.002)),
        DeadLetterStore(tmp_path / "hub.sqlite3"),
        ack,
    )
    runner = threading.Thread(target=ingest.run, args=(stop,))
    runner.start()
    runner.join(15)
    assert not runner.is_alive(), "the ingest did not stop"
    assert events == ["write 1", "ack 1", "write 2", "ack 2", "write 3", "ack 3"]
