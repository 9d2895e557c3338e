"""A real device file builds real drivers: probes feed the alarm, doors report, bins weigh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from edge.agent import Agent
from edge.build import BuildContext, build_sources
from edge.clock_trust import ClockTrust
from edge.cold.excursion import ExcursionCause
from edge.config import EdgeConfig
from edge.drivers.alarm import AlarmOutput, LocalAlarm
from edge.outbox import Outbox
from protocol import DoorReading, TemperatureReading
from tests.edge.doubles import FakeLink
from tests.edge.drivers.test_ds18b20 import w1_slave
from tests.waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "firmware_config" / "examples"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _config(name: str, tmp_path: Path) -> EdgeConfig:
    document = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    document["state_dir"] = str(tmp_path / "state")
    return EdgeConfig.model_validate(document)


def test_the_fridge_node_example_builds_probes_doors_and_an_alarm_they_feed(
    tmp_path: Path, mock_factory: Any
) -> None:
    config = _config("fridge-node.yaml", tmp_path)
    devices = tmp_path / "w1"
    temperatures = {"28-0316a2795eff": 3.5, "28-0316a27a1cff": 9.25, "28-0417c0b1a3ff": -18.0}
    for address, celsius in temperatures.items():
        (devices / address).mkdir(parents=True)
        (devices / address / "w1_slave").write_text(w1_slave(celsius), encoding="ascii")
    context = BuildContext(
        site=config.site,
        device=config.device,
        clock=lambda: NOW,
        pin_factory=mock_factory,
        w1_root=devices,
    )
    sources = build_sources(config, context)
    try:
        by_kind: dict[str, list[Any]] = {}
        for source in sources:
            by_kind.setdefault(type(source).__name__, []).append(source)
        assert sorted((k, len(v)) for k, v in by_kind.items()) == [
            ("DS18B20Source", 3),
            ("DoorSource", 3),
            ("LocalAlarm", 1),
        ]
        readings = [r for s in by_kind["DS18B20Source"] for r in s.poll(NOW)]
        celsius = {r.sensor: r.celsius for r in readings if isinstance(r, TemperatureReading)}
        # fridge-1 carries a -0.2 °C calibration offset in the example
        assert celsius == {"fridge-1": 3.3, "fridge-2": 9.25, "freezer-1": -18.0}
        alarm = by_kind["LocalAlarm"][0]
        # the alarm saw the probes directly: fridge-2 is out of range, the others are not
        assert {name: status.cause for name, status in alarm.statuses.items()} == {
            "fridge-1": ExcursionCause.NONE,
            "fridge-2": ExcursionCause.TOO_WARM,
            "freezer-1": ExcursionCause.NONE,
        }
        doors = [r for s in by_kind["DoorSource"] for r in s.poll(NOW)]
        assert sorted(r.sensor for r in doors if isinstance(r, DoorReading)) == [
            "freezer-1",
            "fridge-1",
            "fridge-2",
        ]
    finally:
        for source in sources:
            source.close()


def test_the_alarm_sounds_through_the_agent_loop_with_the_broker_unreachable(
    tmp_path: Path, mock_factory: Any
) -> None:
    """The issue's promise: a unit too warm for too long is heard with no network at all."""
    config = _config("fridge-node.yaml", tmp_path)
    devices = tmp_path / "w1"
    for address, celsius in (("28-0316a2795eff", 3.5), ("28-0316a27a1cff", 9.25),
                             ("28-0417c0b1a3ff", -18.0)):  # fmt: skip
        (devices / address).mkdir(parents=True)
        (devices / address / "w1_slave").write_text(w1_slave(celsius), encoding="ascii")
    started, monotonic = datetime.now(UTC), [1000.0]

    def clock() -> datetime:
        return started + timedelta(seconds=monotonic[0] - 1000.0)

    context = BuildContext(config.site, config.device, clock, pin_factory=mock_factory,
                           w1_root=devices)  # fmt: skip
    sources = build_sources(config, context)
    link = FakeLink()  # never connected: the hub's broker is unreachable
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    agent = Agent(
        config,
        sources,
        outbox,
        link,
        clock,
        monotonic=lambda: monotonic[0],
        clock_trust=ClockTrust(lambda: True, "boot-1"),
    )
    [alarm] = [s for s in sources if isinstance(s, LocalAlarm)]
    try:
        for _ in range(2 * 29):  # 29 minutes: fridge-2 is too warm, but not for long enough
            monotonic[0] += 30
            agent.step()
        assert alarm.output is AlarmOutput.OFF
        for _ in range(2 * 2):
            monotonic[0] += 30
            agent.step()
        assert alarm.output is AlarmOutput.SOUNDING
        buzzer = mock_factory.pin(23)
        wait_until(lambda: buzzer.state, timeout=5, message="the buzzer beeping")
        assert link.published == [] and outbox.backlog() > 100  # all kept, nothing sent
    finally:
        for source in sources:
            source.close()
        outbox.close()


def test_an_alarm_watching_a_unit_without_a_probe_is_refused(tmp_path: Path) -> None:
    document = yaml.safe_load((EXAMPLES / "fridge-node.yaml").read_text(encoding="utf-8"))
    document["sensors"] = [s for s in document["sensors"] if s.get("sensor") != "freezer-1"]
    try:
        EdgeConfig.model_validate(document)
    except ValueError as err:
        assert "the alarm watches ['freezer-1']" in str(err)
    else:
        raise AssertionError("a config whose alarm watches a missing probe was accepted")
