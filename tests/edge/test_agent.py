"""The agent loop with a fake link: keep before send, live vs replay, PUBACKs, refusals, status."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from canteen.settings import MqttSettings
from edge.agent import LIVE_LIMIT, Agent
from edge.config import MAX_IN_FLIGHT, EdgeConfig
from edge.health import HealthProbe, clock_synced, cpu_temp_c, disk_free_mb
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox
from edge.waste.station import WasteStation, WasteStationConfig
from protocol import REPLAY_BATCH
from tests.edge.broker_tools import Observer, Relay
from tests.edge.doubles import T0, BrokenProbe, CountingProbe, FakeLink, ScriptedScale
from tests.waiting import wait_until


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_config(tmp_path: Path, **overrides: object) -> EdgeConfig:
    values: dict[str, object] = {
        "site": "site-a",
        "device": "cold-room",
        "state_dir": tmp_path,
        "sensors": [{"type": "simulated-cold-unit", "name": "fridge-1"}],
        **overrides,
    }
    return EdgeConfig.model_validate(values)


def make_agent(
    tmp_path: Path,
    sources: Sequence[object],
    link: FakeLink,
    clock: Monotonic,
    outbox: Outbox | None = None,
    **overrides: object,
) -> Agent:
    health = HealthProbe(tmp_path, tmp_path / "no-thermal", tmp_path / "no-marker", lambda _: "yes")
    agent = Agent(
        make_config(tmp_path, **overrides),
        sources,  # type: ignore[arg-type]
        outbox or Outbox(tmp_path / "outbox.sqlite3"),
        link,
        lambda: T0,
        health=health,
        monotonic=clock,
    )
    link.connect(agent.status_payload, agent.deliver, agent.receive_config)
    return agent


def readings_in(payloads: list[tuple[int, dict[str, object]]]) -> list[str]:
    return [r["ts"] for _, p in payloads for r in p["readings"]]  # type: ignore[attr-defined]


def test_readings_are_kept_before_anything_is_sent(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [CountingProbe(per_poll=3)], link, clock)
    agent.step()
    assert agent.outbox.backlog() == 3
    assert link.published == []


def test_live_readings_go_one_a_message_and_are_forgotten_on_puback(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [CountingProbe(per_poll=3)], link, clock)
    link.connected = True
    agent.step()
    sent = link.telemetry()
    assert [len(p["readings"]) for _, p in sent] == [1, 1, 1]  # type: ignore[arg-type]
    assert [p["seq"] for _, p in sent] == [1, 2, 3]
    link.answer([m for m, _ in sent])
    agent.step()
    assert agent.outbox.backlog() == 0 and agent.outgoing == {}


def test_a_backlog_is_replayed_in_batches_at_a_bounded_rate(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    probe = CountingProbe(per_poll=25 * REPLAY_BATCH, interval_s=3600)
    agent = make_agent(tmp_path, [probe], link, clock, replay_messages_per_s=5)
    agent.step()  # offline: all kept
    link.connected = True
    clock.now += 1
    agent.step()
    first = link.telemetry()
    assert len(first) == MAX_IN_FLIGHT  # the window, not more
    assert all(len(p["readings"]) == REPLAY_BATCH for _, p in first)  # type: ignore[arg-type]
    link.answer([m for m, _ in first])
    agent.step()
    assert len(link.telemetry()) == MAX_IN_FLIGHT  # no token left this instant
    clock.now += 1.0
    agent.step()
    assert len(link.telemetry()) == MAX_IN_FLIGHT + 5  # five a second
    stamps = readings_in(link.telemetry())
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # oldest first


def test_a_small_backlog_still_goes_one_reading_a_message(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [CountingProbe(per_poll=LIVE_LIMIT)], link, clock)
    agent.step()
    link.connected = True
    agent.step()
    assert {len(p["readings"]) for _, p in link.telemetry()} == {1}  # type: ignore[arg-type]


def test_unacknowledged_messages_are_resent_first_with_the_same_seq_and_bytes(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add(CountingProbe(per_poll=4).poll(T0))
    before = [outbox.pack(2, T0), outbox.pack(1, T0)]
    outbox.close()  # the agent died before the PUBACKs
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [], link, clock, outbox=Outbox(tmp_path / "outbox.sqlite3"))
    link.connected = True
    agent.step()
    bodies = [p for _, t, p, _ in link.published]
    assert bodies == [m.body for m in before if m is not None] + [bodies[2]]
    assert json.loads(bodies[2])["seq"] == 3
    link.answer([1, 2, 3])
    agent.step()
    assert agent.outbox.backlog() == 0


def test_a_refused_puback_keeps_the_message_and_retries_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [CountingProbe(interval_s=3600)], link, clock)
    link.connected = True
    agent.step()
    with caplog.at_level(logging.WARNING):
        link.answer([1], accepted=False, reason="Not authorized")
        agent.step()
    assert "Not authorized" in caplog.text
    assert agent.refusals == 1 and agent.outbox.backlog() == 1
    assert json.loads(agent.status_payload())["refused"] == 1  # the hub is told
    assert len(link.telemetry()) == 1  # not resent at once
    clock.now += 2.5
    agent.step()
    resent = link.telemetry()
    assert len(resent) == 2 and resent[0][1] == resent[1][1]
    link.answer([resent[1][0]])
    agent.step()
    assert agent.outbox.backlog() == 0


def test_one_broken_sensor_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [BrokenProbe(), CountingProbe()], link, clock)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            agent.step()
            clock.now += 1
    assert agent.outbox.backlog() == 3
    assert caplog.text.count("sensor fridge-2 failed") == 1  # the same fault is logged once
    assert "1-Wire" in caplog.text


def test_status_reports_backlog_health_and_sensors(tmp_path: Path) -> None:
    link, clock = FakeLink(), Monotonic()
    agent = make_agent(tmp_path, [CountingProbe(per_poll=2)], link, clock, status_interval_s=60)
    agent.step()
    assert link.birth is not None
    birth = json.loads(link.birth())
    assert birth["online"] is True and birth["backlog"] == 2
    assert birth["sensors"] == ["fridge-1"] and birth["agent"]
    assert birth["ts"] == "2026-11-23T03:00:00.000Z"
    link.connected = True
    clock.now += 61
    agent.step()
    statuses = [(p, r) for _, t, p, r in link.published if t == "canteen/site-a/cold-room/status"]
    assert len(statuses) == 1 and statuses[0][1] is True  # retained
    status = json.loads(statuses[0][0])
    assert status["clock_synced"] is True and status["disk_free_mb"] > 0
    assert "cpu_temp_c" not in status  # this machine has no thermal zone at that path


def waste_station(scale: ScriptedScale, dish: str | None = None) -> WasteStation:
    config = WasteStationConfig.model_validate(
        {"sensor": "bin-plate", "scale": {"type": "serial_scale", "port": "loop://"}, "dish": dish}
    )
    return WasteStation(config, scale=scale)


class Drops:
    """An agent with one waste station on a scripted scale, its clocks stepped 0.2 s a poll."""

    def __init__(self, tmp_path: Path, dish: str | None) -> None:
        self.link, self.clock, self.scale = FakeLink(), Monotonic(), ScriptedScale()
        health = HealthProbe(
            tmp_path, tmp_path / "no-thermal", tmp_path / "no-marker", lambda _: "yes"
        )
        self.agent = Agent(
            make_config(tmp_path),
            [waste_station(self.scale, dish)],
            Outbox(tmp_path / "outbox.sqlite3"),
            self.link,
            lambda: T0 + timedelta(seconds=self.clock.now),
            health=health,
            monotonic=self.clock,
        )
        self.link.connect(self.agent.status_payload, self.agent.deliver, self.agent.receive_config)
        self.base = 0.0

    def drop(self) -> None:
        """Settle the bin, then 100 g more: one drop, polled by the agent."""
        self.scale.weights += [self.base] * 25 + [self.base + 100.0] * 25
        self.base += 100.0
        while self.scale.weights:
            self.agent.step()
            self.clock.now += 0.2

    def dishes(self) -> list[str | None]:
        return [r.get("dish") for r in self.readings()]

    def readings(self) -> list[dict[str, Any]]:
        message = self.agent.outbox.pack(100, T0)
        assert message is not None
        readings: list[dict[str, Any]] = json.loads(message.body)["readings"]
        return readings


def test_a_pushed_config_sets_the_dish_of_the_next_drop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drops = Drops(tmp_path, dish="rice")
    drops.drop()
    drops.link.push_config(b'{"v": 1, "dish": "braised-pork", "fans": "on"}')
    drops.drop()
    with caplog.at_level(logging.WARNING, logger="edge.config_push"):
        drops.link.push_config(b'{"v": 1, "dish": "Braised Pork"}')  # not a slug: ignored
        drops.link.push_config(b"{not json")
        drops.drop()
    reasons = [r.getMessage() for r in caplog.records if r.name == "edge.config_push"]
    assert len(reasons) == 2 and "dish: String should match pattern" in reasons[0]
    assert "canteen/site-a/cold-room/config" in reasons[0] and "not valid JSON" in reasons[1]
    drops.link.push_config(b'{"v": 1, "dish": null}')  # back to the station's own dish
    drops.drop()
    assert drops.dishes() == ["rice", "braised-pork", "braised-pork", "rice"]


def test_a_pushed_config_sets_the_category_of_the_next_drop_and_keeps_the_dish(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drops = Drops(tmp_path, dish="rice")
    drops.drop()
    drops.link.push_config(b'{"v": 1, "dish": "congee", "category": "overproduction"}')
    drops.drop()
    with caplog.at_level(logging.WARNING, logger="edge.config_push"):
        drops.link.push_config(b'{"v": 1, "dish": "tofu", "category": "compost"}')  # ignored whole
        drops.drop()
    assert "category: Input should be 'plate'" in caplog.text
    drops.link.push_config(b'{"v": 1, "dish": "congee", "category": null}')  # the bin's own
    drops.drop()
    tagged = [(r["category"], r.get("dish")) for r in drops.readings()]
    assert tagged == [
        ("plate", "rice"),
        ("overproduction", "congee"),
        ("overproduction", "congee"),
        ("plate", "congee"),
    ]


def test_run_polls_until_stopped(tmp_path: Path) -> None:
    link = FakeLink()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    agent = Agent(make_config(tmp_path), [CountingProbe(interval_s=0.01)], outbox, link)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    link.connected = True
    wait_until(lambda: len(link.telemetry()) >= 5, timeout=10, message="live messages")
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def run_for(agent: Agent, seconds: float, link: FakeLink) -> int:
    """Run the agent's loop for a while, connected; return how many rounds it went."""
    rounds = 0

    def count() -> None:
        nonlocal rounds
        rounds += 1

    stop = threading.Event()
    link.connected = True
    thread = threading.Thread(target=agent.run, args=(stop, count))
    thread.start()
    stop.wait(seconds)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    return rounds


def test_an_idle_loop_naps_until_something_is_due(tmp_path: Path) -> None:
    """A node read every 30 s wakes about once a second, not every TICK_S."""
    link = FakeLink()
    slow = CountingProbe(interval_s=30.0)
    agent = Agent(make_config(tmp_path), [slow], Outbox(tmp_path / "outbox.sqlite3"), link)
    rounds = run_for(agent, 2.5, link)
    assert slow.count == 1  # read at the start, not due again
    assert len(link.telemetry()) == 1  # and sent at once
    assert rounds <= 6, f"{rounds} rounds in 2.5 s: the loop does not nap"


def test_a_fast_source_is_still_polled_on_time(tmp_path: Path) -> None:
    link = FakeLink()
    fast = CountingProbe(interval_s=0.2)
    slow = CountingProbe(name="fridge-2", interval_s=30.0)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    rounds = run_for(Agent(make_config(tmp_path), [slow, fast], outbox, link), 2.0, link)
    assert 8 <= fast.count <= 12, f"polled {fast.count} times in 2 s at 0.2 s"
    assert rounds < 40  # no more than the polls and their sends need


def test_health_readers(tmp_path: Path) -> None:
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert cpu_temp_c(zone) == 48.3
    assert cpu_temp_c(tmp_path / "absent") is None
    assert disk_free_mb(tmp_path) is not None and disk_free_mb(tmp_path / "absent") is None
    marker = tmp_path / "synchronized"
    assert clock_synced(marker, lambda _: None) is None  # cannot tell
    assert clock_synced(marker, lambda _: "no") is False
    assert clock_synced(marker, lambda _: "yes") is True
    marker.touch()
    assert clock_synced(marker, lambda _: "no") is True  # timesyncd's marker wins


# Against a real Mosquitto. The agent reaches the broker through a relay the test can
# shut, so that after a broker restart the observer is subscribed again before the
# agent reconnects (otherwise messages the broker took while nobody listened would
# be missing for the observer, not lost by the agent).


def start_agent(
    tmp_path: Path, site: str, port: int, probe: CountingProbe, **overrides: object
) -> tuple[Agent, MqttLink, Callable[[], None]]:
    config = make_config(tmp_path, site=site, **overrides)
    link = MqttLink(MqttSettings(port=port), site, "cold-room")
    agent = Agent(config, [probe], Outbox(tmp_path / "outbox.sqlite3"), link)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(10)
        link.close()

    return agent, link, finish


@pytest.mark.integration
def test_every_reading_arrives_exactly_once_across_a_broker_outage(
    tmp_path: Path, mosquitto_factory: Any
) -> None:
    broker = mosquitto_factory()
    relay = Relay(broker.host, broker.port)
    observer = Observer(broker.host, broker.port, "site-outage")
    wait_until(observer.subscribed.is_set, timeout=10, message="observer subscribed")
    probe = CountingProbe(per_poll=25, interval_s=0.05)
    agent, link, finish = start_agent(
        tmp_path, "site-outage", relay.port, probe, replay_messages_per_s=100
    )
    try:
        wait_until(lambda: len(observer.telemetry()) >= 20, timeout=15, message="live traffic")
        relay.open.clear()
        broker.stop()
        wait_until(lambda: not link.is_connected(), timeout=10, message="agent offline")
        wait_until(lambda: agent.outbox.backlog() >= 1500, timeout=30, message="a backlog")
        broker.restart()
        wait_until(observer.subscribed.is_set, timeout=15, message="observer back")
        relay.open.set()
        wait_until(link.is_connected, timeout=30, message="agent reconnected")
        probe.paused = True
        wait_until(lambda: agent.outbox.backlog() == 0, timeout=30, message="backlog drained")
        wait_until(
            lambda: set(observer.seqs_by_reading()) == probe.expected(),
            timeout=15,
            message="every reading at the observer",
        )
    finally:
        finish()
        observer.close()
        relay.close()
    assert all(len(seqs) == 1 for seqs in observer.seqs_by_reading().values())
    assert observer.bodies_agree_per_seq()
    sizes = [len(m["readings"]) for m in observer.telemetry()]
    assert max(sizes) == REPLAY_BATCH  # the backlog went in full batches, none larger


@pytest.mark.integration
def test_birth_and_last_will_are_retained(tmp_path: Path, mosquitto: Any) -> None:
    relay = Relay(mosquitto.host, mosquitto.port)
    observer = Observer(mosquitto.host, mosquitto.port, "site-will")
    wait_until(observer.subscribed.is_set, timeout=10, message="observer subscribed")
    _, _, finish = start_agent(tmp_path, "site-will", relay.port, CountingProbe())

    def retained_status() -> dict[str, Any]:
        late = Observer(mosquitto.host, mosquitto.port, "site-will")
        try:
            return wait_until(
                lambda: [s for s, retained in late.statuses() if retained],
                timeout=10,
                message="a retained status",
            )[-1]
        finally:
            late.close()

    try:
        wait_until(lambda: observer.statuses(), timeout=10, message="birth")
        assert retained_status()["online"] is True
        relay.open.clear()
        relay.cut()  # the Pi vanishes without a DISCONNECT
        wait_until(
            lambda: observer.statuses()[-1][0] == {"v": 1, "online": False},
            timeout=10,
            message="last will",
        )
        assert retained_status() == {"v": 1, "online": False}
        relay.open.set()
        wait_until(lambda: observer.statuses()[-1][0]["online"], timeout=30, message="rebirth")
    finally:
        finish()  # a clean stop also leaves "offline" retained
        relay.close()
    wait_until(lambda: observer.statuses()[-1][0] == {"v": 1, "online": False}, timeout=10)
    observer.close()
    assert retained_status() == {"v": 1, "online": False}
