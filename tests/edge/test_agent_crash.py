"""An agent killed with SIGKILL mid-stream loses nothing it had kept and invents nothing.

The agent runs as the real entry point (`python -m edge.app --config FILE`) with a
simulated cold unit taking a reading every 50 ms on a grid aligned to the epoch.
The oracle needs no test-only sensor type:
- at each kill, the outbox file says what the agent had kept; all of it must reach
  the subscriber after the restart;
- the readings received plus those still kept after a clean stop must cover every
  grid instant of each run, and only those: the gaps allowed are the times the agent
  was dead, and no reading lies outside a run (none invented);
- each reading travels in exactly one seq (a seq may be re-delivered, identically),
  and the seqs received plus those still kept are exactly 1..N: no message lost,
  and seq went on increasing across every restart.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from protocol import epoch_ms, parse_ts
from tests.edge.broker_tools import Observer, Relay
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
STEP = timedelta(milliseconds=50)
CONFIG = """
site: {site}
device: cold-room
mqtt_url: {url}
state_dir: {state}
sensors:
  - {{type: simulated-cold-unit, name: fridge-1, interval_s: 0.05, door_report_s: 0.5}}
"""
Identity = tuple[str, str, str]


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AgentProcess:
    """The agent's process, restarted as the test says, with the times of its runs."""

    config: Path
    log: Path
    runs: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def outbox(self) -> Path:
        return self.config.parent / "state" / "outbox.sqlite3"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANTEEN_MQTT")}
        self.runs.append((now(), None))
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge.app", "--config", str(self.config)],
                cwd=REPO,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> set[Identity]:
        """SIGKILL the agent; return what its outbox had kept at that instant."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.runs[-1] = (self.runs[-1][0], now())
        return kept(self.outbox)

    def stop(self) -> None:
        """SIGTERM: the agent stops cleanly and exits 0."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(15) == 0, self.log.read_text()
        self.runs[-1] = (self.runs[-1][0], now())

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _rows(outbox: Path, sql: str) -> list[Any]:
    db = sqlite3.connect(outbox)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def kept(outbox: Path) -> set[Identity]:
    """The readings an outbox file holds, pending or in unacknowledged messages."""
    readings = [json.loads(body) for (body,) in _rows(outbox, "SELECT body FROM pending")]
    for (body,) in _rows(outbox, "SELECT body FROM messages"):
        readings.extend(json.loads(body)["readings"])
    return {(r["kind"], r["sensor"], r["ts"]) for r in readings}


def seqs_accounted_for(observer: Observer, outbox: Path) -> bool:
    """Whether every seq handed out (1..N) was received or is still in the outbox."""
    [(next_seq,)] = _rows(outbox, "SELECT value FROM meta WHERE key = 'next_seq'")
    unsent = {seq for (seq,) in _rows(outbox, "SELECT seq FROM messages")}
    received = {message["seq"] for message in observer.telemetry()}
    return received | unsent == set(range(1, next_seq))


def temperatures_since(observer: Observer, moment: datetime) -> int:
    return sum(
        1
        for kind, _, ts in observer.seqs_by_reading()
        if kind == "temperature" and parse_ts(ts) >= moment
    )


def check_exactly_once(observer: Observer, agent: AgentProcess) -> None:
    """The oracle: every reading once, none lost within a run, none outside the runs."""
    wait_until(
        lambda: seqs_accounted_for(observer, agent.outbox),
        timeout=10,
        message="every seq 1..N received or still kept (none lost, none reused)",
    )
    received = observer.seqs_by_reading()
    assert all(len(seqs) == 1 for seqs in received.values()), "a reading in two seqs"
    assert observer.bodies_agree_per_seq(), "one seq carrying different readings"
    every = set(received) | kept(agent.outbox)
    times = sorted(parse_ts(ts) for kind, _, ts in every if kind == "temperature")
    assert all(epoch_ms(t) % 50 == 0 for t in times), "a reading off the probe's grid"
    runs = [(start, end or now()) for start, end in agent.runs]
    assert all(any(s <= t <= e for s, e in runs) for t in times), "a reading while dead"
    gaps = [(a, b) for a, b in pairwise(times) if b - a > STEP]
    assert len(gaps) == len(runs) - 1, f"readings missing within a run: {gaps}"
    for (last_before, first_after), (run, next_run) in zip(gaps, pairwise(runs), strict=True):
        assert last_before <= run[1] < next_run[0] <= first_after


@pytest.mark.integration
def test_a_killed_agent_loses_nothing_it_kept_and_invents_nothing(
    tmp_path: Path, mosquitto: Any
) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text(CONFIG.format(site="site-kill", url=mosquitto.url, state=tmp_path / "state"))
    agent = AgentProcess(config, tmp_path / "agent.log")
    observer = Observer(mosquitto.host, mosquitto.port, "site-kill")
    wait_until(observer.subscribed.is_set, timeout=10, message="observer subscribed")
    try:
        agent.start()
        wait_until(lambda: temperatures_since(observer, agent.runs[0][0]) >= 40, timeout=30)
        kept_at_kill = agent.kill()
        wait_until(
            lambda: observer.statuses()[-1][0] == {"v": 1, "online": False},
            timeout=15,
            message="the last will after SIGKILL",
        )
        agent.start()
        wait_until(
            lambda: kept_at_kill <= set(observer.seqs_by_reading()),
            timeout=30,
            message="everything kept at the kill delivered after the restart",
        )
        wait_until(lambda: temperatures_since(observer, agent.runs[1][0]) >= 40, timeout=30)
        agent.stop()
    finally:
        agent.close()
    try:
        check_exactly_once(observer, agent)
    finally:
        observer.close()


@pytest.mark.integration
def test_killed_during_a_broker_outage_and_again_mid_replay_every_reading_arrives_once(
    tmp_path: Path, mosquitto_factory: Any
) -> None:
    """The issue's scenario: SIGKILL mid-stream, the broker stopped for a while.

    Kill one comes while the broker is down (the backlog exists only in the outbox),
    kill two just as the restarted agent starts replaying it to the broker.
    """
    broker = mosquitto_factory()
    relay = Relay(broker.host, broker.port)  # so the observer is back before the agent
    config = tmp_path / "edge.yaml"
    url = f"mqtt://127.0.0.1:{relay.port}"
    config.write_text(CONFIG.format(site="site-outage-kill", url=url, state=tmp_path / "state"))
    agent = AgentProcess(config, tmp_path / "agent.log")
    observer = Observer(broker.host, broker.port, "site-outage-kill")
    wait_until(observer.subscribed.is_set, timeout=10, message="observer subscribed")
    try:
        agent.start()
        wait_until(lambda: temperatures_since(observer, agent.runs[0][0]) >= 20, timeout=30)
        relay.open.clear()
        observer.subscribed.clear()
        broker.stop()
        at_outage = len(kept(agent.outbox))
        wait_until(lambda: len(kept(agent.outbox)) >= at_outage + 40, timeout=30)
        kept_offline = agent.kill()  # one: the backlog is only on the Pi's disk
        agent.start()
        wait_until(lambda: len(kept(agent.outbox)) >= len(kept_offline) + 40, timeout=30)
        broker.restart()
        wait_until(observer.subscribed.is_set, timeout=15, message="observer back")
        relay.open.set()
        wait_until(
            lambda: kept_offline & set(observer.seqs_by_reading()),
            timeout=30,
            message="the replay under way",
        )
        kept_mid_replay = agent.kill()  # two: batches in flight, PUBACKs on their way
        agent.start()
        wait_until(
            lambda: (kept_offline | kept_mid_replay) <= set(observer.seqs_by_reading()),
            timeout=30,
            message="everything kept at either kill delivered",
        )
        wait_until(lambda: temperatures_since(observer, agent.runs[2][0]) >= 20, timeout=30)
        agent.stop()
    finally:
        agent.close()
        relay.close()
    try:
        check_exactly_once(observer, agent)
        assert max(len(m["readings"]) for m in observer.telemetry()) > 1, "no batch replayed"
    finally:
        observer.close()
