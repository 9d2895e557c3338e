"""What the agent tells the hub: probe faults, a full outbox; live readings during a replay."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.drivers.door import DoorConfig, DoorSource
from edge.drivers.ds18b20 import DS18B20Config, DS18B20Source
from edge.outbox import Outbox
from protocol import REPLAY_BATCH, Reading
from tests.edge.doubles import CountingProbe, FakeLink
from tests.edge.drivers.test_ds18b20 import w1_slave
from tests.edge.test_agent import Monotonic, make_agent

ADDRESS = "28-0316a2795eff"
STATUS_TOPIC = "canteen/site-a/cold-room/status"


def statuses(link: FakeLink) -> list[dict[str, Any]]:
    return [json.loads(p) for _, t, p, _ in link.published if t == STATUS_TOPIC]


def test_a_probe_fault_is_named_in_the_status_at_once_and_cleared_when_it_reads_again(
    tmp_path: Path, mock_factory: Any
) -> None:
    probe_file = tmp_path / "w1" / ADDRESS / "w1_slave"
    probe_file.parent.mkdir(parents=True)
    probe_file.write_text(w1_slave(4.0, crc_ok=False), encoding="ascii")
    link, clock = FakeLink(), Monotonic()
    probe = DS18B20Source(
        DS18B20Config(sensor="fridge-1", address=ADDRESS, interval_s=30, retries=1),
        root=tmp_path / "w1",
        sleep=lambda _: None,
    )
    # The unit's door shares the probe's name; it reads fine every half second.
    door = DoorSource(
        DoorConfig(sensor="fridge-1", pin=17, interval_s=0.5),
        pin_factory=mock_factory,
        monotonic=clock,
    )
    agent = make_agent(tmp_path, [probe, door], link, clock, status_interval_s=600)
    link.connected = True
    try:
        agent.step()
        assert [s.get("faults") for s in statuses(link)] == [["fridge-1"]]  # not 10 min later
        sent = [r["kind"] for _, m in link.telemetry() for r in m["readings"]]  # type: ignore[attr-defined]
        assert "temperature" not in sent  # no bogus value in its place
        for _ in range(4):  # the door reads fine: the probe's fault stands, nothing resent
            clock.now += 1
            agent.step()
        assert len(statuses(link)) == 1 and agent.faulty_sensors() == ["fridge-1"]
        probe_file.write_text(w1_slave(4.0), encoding="ascii")
        clock.now += 30
        agent.step()
        assert len(statuses(link)) == 2 and "faults" not in statuses(link)[-1]
    finally:
        door.close()


def test_the_status_says_how_many_readings_a_full_outbox_dropped(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    outbox = Outbox(tmp_path / "small.sqlite3", max_readings=5)
    agent = make_agent(tmp_path, [CountingProbe(per_poll=8)], link, clock, outbox=outbox)
    agent.step()  # offline: 8 readings into an outbox of 5
    assert link.birth is not None
    birth = json.loads(link.birth())
    assert (birth["backlog"], birth["outbox_dropped"]) == (5, 3)


class TimedProbe(CountingProbe):
    """A counting probe that notes when (monotonic) each reading was taken."""

    def __init__(self, clock: Monotonic, per_poll: int) -> None:
        super().__init__(per_poll=per_poll, interval_s=1.0)
        self.clock = clock
        self.taken: dict[str, float] = {}

    def poll(self, now: datetime) -> list[Reading]:
        readings = super().poll(now)
        for reading in readings:
            self.taken[reading.model_dump(mode="json")["ts"]] = self.clock.now
        return readings


def test_live_readings_keep_flowing_right_behind_a_replayed_backlog(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    backlog = 24 * REPLAY_BATCH  # more than the 20-message window: the pace shows
    probe = TimedProbe(clock, per_poll=backlog)
    agent = make_agent(tmp_path, [probe], link, clock, replay_messages_per_s=2)
    agent.step()  # offline: the backlog is kept
    probe.per_poll = 1  # from now on, one live reading a second
    link.connected = True
    sent_at: dict[str, float] = {}
    order: list[str] = []
    sizes: list[int] = []
    answered = 0
    for _ in range(60):  # 15 s, a step every 0.25 s, the broker answering at once
        clock.now += 0.25
        agent.step()
        fresh = link.telemetry()[answered:]
        answered += len(fresh)
        for _, message in fresh:
            stamps = [r["ts"] for r in message["readings"]]  # type: ignore[attr-defined]
            sizes.append(len(stamps))
            order += stamps
            sent_at.update(dict.fromkeys(stamps, clock.now))
        link.answer([mid for mid, _ in fresh])
    agent.step()
    assert agent.outbox.backlog() == 0
    assert len(order) == len(set(order)) and set(order) == set(probe.taken)  # all, once
    assert order == sorted(order)  # oldest first: live readings queue behind the backlog
    assert max(sizes) == REPLAY_BATCH and sizes[-5:] == [1] * 5  # then one a message again
    live = [ts for ts in order if probe.taken[ts] > 1000.0]
    assert len(live) >= 14  # the probe kept being read all through the replay
    # 20 batches at once, the 4 others at 2 a second: no live reading waits over ~2 s
    assert max(sent_at[ts] - probe.taken[ts] for ts in live) <= 2.5
