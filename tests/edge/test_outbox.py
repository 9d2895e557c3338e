"""The SQLite outbox: nothing lost, nothing duplicated, seq strictly increasing."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.outbox import Outbox
from protocol import DoorReading, TemperatureReading

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def probe(n: int) -> TemperatureReading:
    """The n-th reading of a fridge probe, one second apart."""
    return TemperatureReading(sensor="fridge-1", ts=T0 + timedelta(seconds=n), celsius=3 + n % 7)


def stamps(body: bytes) -> list[str]:
    return [r["ts"] for r in json.loads(body)["readings"]]


def test_pack_takes_oldest_readings_and_numbers_messages(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add([probe(n) for n in range(5)])
    first = outbox.pack(3, T0)
    second = outbox.pack(3, T0)
    assert first is not None and second is not None
    assert (first.seq, first.readings, second.seq, second.readings) == (1, 3, 2, 2)
    assert stamps(first.body) == [
        "2026-11-23T03:00:00.000Z",
        "2026-11-23T03:00:01.000Z",
        "2026-11-23T03:00:02.000Z",
    ]
    assert json.loads(first.body)["sent"] == "2026-11-23T03:00:00.000Z"
    assert outbox.pack(3, T0) is None
    assert outbox.backlog() == 5 and outbox.pending() == 0


def test_acknowledge_forgets_a_message_and_repeats_are_harmless(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add([probe(n) for n in range(3)])
    message = outbox.pack(2, T0)
    assert message is not None
    outbox.acknowledge(message.seq)
    outbox.acknowledge(message.seq)
    outbox.acknowledge(999)
    assert outbox.unacknowledged() == []
    assert outbox.backlog() == 1


def test_seq_keeps_increasing_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.add([probe(1), probe(2)])
    first = outbox.pack(1, T0)
    assert first is not None
    outbox.acknowledge(first.seq)
    outbox.close()
    reopened = Outbox(path)
    second = reopened.pack(1, T0)
    assert second is not None and second.seq == first.seq + 1
    assert reopened.backlog() == 1


def test_unacknowledged_messages_survive_reopen_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.add([probe(n) for n in range(4)] + [DoorReading(sensor="fridge-1", ts=T0, open=True)])
    sent = [outbox.pack(2, T0 + timedelta(seconds=i)) for i in range(3)]
    outbox.acknowledge(2)
    outbox.close()
    reopened = Outbox(path)
    assert reopened.unacknowledged() == [m for m in sent if m is not None and m.seq != 2]
    assert reopened.backlog() == 3


def test_full_outbox_drops_the_oldest_pending_readings_and_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_readings=10)
    outbox.add([probe(n) for n in range(4)])
    message = outbox.pack(4, T0)  # 4 readings awaiting PUBACK count towards the limit
    outbox.add([probe(n) for n in range(4, 12)])
    assert outbox.backlog() == 10
    assert outbox.dropped() == 2
    rest = outbox.pack(100, T0)
    assert message is not None and rest is not None
    assert stamps(rest.body)[0] == "2026-11-23T03:00:06.000Z"  # 4 and 5 were dropped
    outbox.close()
    assert Outbox(path, max_readings=10).dropped() == 2


def test_one_add_larger_than_the_outbox_keeps_the_newest(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_readings=3)
    outbox.add([probe(n) for n in range(5)])
    message = outbox.pack(10, T0)
    assert message is not None
    assert [s[17:19] for s in stamps(message.body)] == ["02", "03", "04"]
    assert outbox.dropped() == 2


def test_readings_held_for_the_clock_count_towards_the_limit(tmp_path: Path) -> None:
    """A Pi whose clock is never set must not grow its outbox without bound."""
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_readings=10)
    outbox.add([probe(n) for n in range(4)])  # before the power cut, clock trusted
    outbox.hold([probe(n) for n in range(4, 12)], "boot-2", 0)
    assert (outbox.pending(), outbox.held(), outbox.dropped()) == (2, 8, 2)  # 0 and 1 went
    outbox.hold([probe(n) for n in range(12, 17)], "boot-2", 0)
    # the 2 pending readings left, then the 3 oldest held ones (4, 5, 6)
    assert (outbox.pending(), outbox.held(), outbox.dropped()) == (0, 10, 7)
    outbox.close()
    outbox = Outbox(path, max_readings=10)
    assert (outbox.held(), outbox.dropped()) == (10, 7)
    outbox.add([probe(17)])  # the clock is trusted but the held ones are not released yet
    assert (outbox.pending(), outbox.held(), outbox.dropped()) == (0, 10, 8)
    assert outbox.release("boot-2", 0) == (10, 0)
    message = outbox.pack(100, T0)
    assert message is not None
    assert [s[17:19] for s in stamps(message.body)] == [f"{n:02d}" for n in range(7, 17)]


def test_outbox_refuses_a_path_it_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RuntimeError, match="cannot open the outbox"):
        Outbox(blocker / "outbox.sqlite3")


# The property: whatever the interleaving of adds, packs, acks and reopenings (a
# restart), every reading ends in exactly one acknowledged message.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 6)),
        st.tuples(st.just("hold"), st.integers(1, 6)),
        st.tuples(st.just("release"), st.just(0)),
        st.tuples(st.just("pack"), st.integers(1, 5)),
        st.tuples(st.just("ack"), st.integers(0, 10)),
        st.tuples(st.just("reopen"), st.just(0)),
    ),
    max_size=40,
)


def _run(path: Path, ops: list[tuple[str, int]], max_readings: int) -> tuple[int, Counter[str]]:
    """Apply the operations and drain the outbox; return readings added, stamps delivered.

    After every operation the outbox holds at most `max_readings` readings, and seqs
    come out strictly increasing whatever the reopenings.
    """
    outbox, added, delivered, seqs = Outbox(path, max_readings), 0, Counter[str](), []
    for op, n in ops:
        if op in ("add", "hold"):
            readings = [probe(added + i) for i in range(n)]
            if op == "add":
                outbox.add(readings)
            else:  # taken before the clock was trusted; basis unchanged, so no shift
                outbox.hold(readings, "boot-1", 0)
            added += n
        elif op == "release":
            outbox.release("boot-1", 0)
        elif op == "pack" and (message := outbox.pack(n, T0)) is not None:
            seqs.append(message.seq)
        elif op == "ack" and (waiting := outbox.unacknowledged()):
            acked = waiting[n % len(waiting)]
            delivered.update(stamps(acked.body))
            outbox.acknowledge(acked.seq)
        elif op == "reopen":
            outbox.close()
            outbox = Outbox(path, max_readings)
        assert outbox.backlog() + outbox.held() <= max_readings
    outbox.release("boot-1", 0)
    while (message := outbox.pack(500, T0)) is not None:
        seqs.append(message.seq)
    for message in outbox.unacknowledged():
        delivered.update(stamps(message.body))
        outbox.acknowledge(message.seq)
    assert seqs == sorted(set(seqs))
    assert outbox.backlog() == 0 and outbox.held() == 0
    assert outbox.dropped() == added - sum(delivered.values())
    outbox.close()
    return added, delivered


@settings(max_examples=60, deadline=None)
@given(operations)
def test_no_reading_is_lost_or_duplicated(ops: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        added, delivered = _run(Path(folder) / "outbox.sqlite3", ops, 500_000)
    assert delivered == Counter(probe(n).model_dump(mode="json")["ts"] for n in range(added))


@settings(max_examples=60, deadline=None)
@given(operations)
def test_a_full_outbox_stays_bounded_and_counts_every_reading_it_drops(
    ops: list[tuple[str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        added, delivered = _run(Path(folder) / "outbox.sqlite3", ops, 7)
    every = {probe(n).model_dump(mode="json")["ts"] for n in range(added)}
    assert set(delivered) <= every and max(delivered.values(), default=1) == 1
