"""Acknowledged messages are kept a while and sent again after the broker was lost.

Mosquitto acknowledges from memory and saves every 30 s: a broker killed in between has
lost what it acknowledged since its last save (tests/reliability scenario 1b).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from edge.config import KEEP_ACKED_S
from edge.outbox import Outbox
from protocol import TemperatureReading
from tests.edge.doubles import T0, CountingProbe, FakeLink
from tests.edge.test_agent import Monotonic, make_agent


def reading(n: int) -> TemperatureReading:
    return TemperatureReading(sensor="fridge-1", ts=T0, celsius=float(n))


def test_an_acknowledged_message_is_kept_until_forgotten_and_can_be_reopened(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add([reading(1), reading(2)])
    first, second = outbox.pack(1, T0), outbox.pack(1, T0)
    assert first is not None and second is not None
    outbox.acknowledge(first.seq)
    assert outbox.backlog() == 1 and outbox.unacknowledged() == [second]
    assert outbox.acknowledged_kept() == 1
    assert outbox.reopen_acknowledged() == [first]
    assert outbox.backlog() == 2 and outbox.unacknowledged() == [first, second]
    outbox.acknowledge(first.seq)
    outbox.forget([first.seq, second.seq])  # an unacknowledged one is never forgotten
    assert outbox.acknowledged_kept() == 0 and outbox.unacknowledged() == [second]
    assert outbox.reopen_acknowledged() == []


def test_an_outbox_from_before_kept_acks_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, body BLOB NOT NULL,"
        " readings INTEGER NOT NULL);"
        "INSERT INTO messages VALUES (7, x'7b7d', 3);"
    )
    db.commit()
    db.close()
    outbox = Outbox(path)
    assert [m.seq for m in outbox.unacknowledged()] == [7] and outbox.backlog() == 3


def test_after_a_lost_connection_the_recently_acknowledged_go_again(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [CountingProbe(per_poll=1, interval_s=3600)], link, clock)
    link.connected = True
    agent.step()
    [(mid, sent)] = link.telemetry()
    link.answer([mid])
    agent.step()
    assert agent.outbox.backlog() == 0 and agent.outbox.acknowledged_kept() == 1
    link.connected = False  # the broker died; maybe before saving
    agent.step()
    link.connected = True
    agent.step()
    again = link.telemetry()
    assert len(again) == 2 and again[1][1] == sent  # the same seq and readings
    link.answer([again[1][0]])
    agent.step()
    clock.now += KEEP_ACKED_S + 1  # long enough for any broker to have saved it
    agent.step()
    assert agent.outbox.acknowledged_kept() == 0
    link.connected = False
    agent.step()
    link.connected = True
    agent.step()
    assert len(link.telemetry()) == 2  # nothing kept, nothing sent again


def test_an_agent_that_starts_sends_again_what_it_had_kept(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add([reading(5)])
    message = outbox.pack(1, T0)
    assert message is not None
    outbox.acknowledge(message.seq)  # then the Pi lost power
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [], link, clock, outbox=outbox)
    link.connected = True
    agent.step()
    assert [payload for _, payload in link.telemetry()] == [json.loads(message.body)]
