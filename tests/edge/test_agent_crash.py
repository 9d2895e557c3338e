"""An agent killed with SIGKILL mid-stream loses nothing it had kept and invents nothing.

The agent runs as the real entry point (`python -m edge.app --config FILE`) with a
simulated cold unit taking a reading every 50 ms on a grid aligned to the epoch.
The oracle needs no test-only sensor type:
- at the kill, the outbox file says what the agent had kept; all of it must reach
  the subscriber after the restart;
- the readings received plus those still kept after a clean stop must cover every
  grid instant of each run: the one gap allowed is the time the agent was dead;
- each reading travels in exactly one seq (a seq may be re-delivered, identically).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from protocol import epoch_ms, parse_ts
from tests.edge.broker_tools import Observer
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
STEP = timedelta(milliseconds=50)
CONFIG = """
site: site-kill
device: cold-room
mqtt_url: {url}
state_dir: {state}
sensors:
  - {{type: simulated-cold-unit, name: fridge-1, interval_s: 0.05, door_report_s: 0.5}}
"""
Identity = tuple[str, str, str]


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANTEEN_MQTT")}
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "edge.app", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def kept(outbox: Path) -> set[Identity]:
    """The readings an outbox file holds, pending or in unacknowledged messages."""
    db = sqlite3.connect(outbox)
    try:
        readings = [json.loads(body) for (body,) in db.execute("SELECT body FROM pending")]
        for (body,) in db.execute("SELECT body FROM messages"):
            readings.extend(json.loads(body)["readings"])
    finally:
        db.close()
    return {(r["kind"], r["sensor"], r["ts"]) for r in readings}


def temperatures_since(observer: Observer, moment: datetime) -> int:
    return sum(
        1
        for kind, _, ts in observer.seqs_by_reading()
        if kind == "temperature" and parse_ts(ts) >= moment
    )


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.integration
def test_a_killed_agent_loses_nothing_it_kept_and_invents_nothing(
    tmp_path: Path, mosquitto: Any
) -> None:
    config, log = tmp_path / "edge.yaml", tmp_path / "agent.log"
    config.write_text(CONFIG.format(url=mosquitto.url, state=tmp_path / "state"))
    outbox = tmp_path / "state" / "outbox.sqlite3"
    observer = Observer(mosquitto.host, mosquitto.port, "site-kill")
    wait_until(observer.subscribed.is_set, timeout=10, message="observer subscribed")
    first_start = now()
    agent = start_agent(config, log)
    try:
        wait_until(lambda: temperatures_since(observer, first_start) >= 40, timeout=30)
        kill_sent = now()
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        wait_until(
            lambda: observer.statuses()[-1][0] == {"v": 1, "online": False},
            timeout=15,
            message="the last will after SIGKILL",
        )
        kept_at_kill = kept(outbox)
        restart = now()
        agent = start_agent(config, log)
        wait_until(
            lambda: kept_at_kill <= set(observer.seqs_by_reading()),
            timeout=30,
            message="everything kept at the kill delivered after the restart",
        )
        wait_until(lambda: temperatures_since(observer, restart) >= 40, timeout=30)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(15) == 0, log.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        observer.close()
    received = observer.seqs_by_reading()
    assert all(len(seqs) == 1 for seqs in received.values()), "a reading in two seqs"
    assert observer.bodies_agree_per_seq()
    every = set(received) | kept(outbox)
    times = sorted(parse_ts(ts) for kind, _, ts in every if kind == "temperature")
    assert all(epoch_ms(t) % 50 == 0 for t in times), "a reading off the probe's grid"
    assert first_start <= times[0] and times[-1] <= now()
    gaps = [(a, b) for a, b in pairwise(times) if b - a > STEP]
    assert len(gaps) == 1, f"readings missing within a run: {gaps}"
    last_before, first_after = gaps[0]
    assert last_before <= kill_sent < restart <= first_after
