"""An edge agent with the wrong device's login: the broker refuses, the agent keeps it all.

The installer copies cold-room's edge.yaml but waste-station's edge.env onto a Pi: the
login is valid, the topics are not its own. Every publish is answered 0x87, the agent
counts the refusals and keeps the readings; with the right login they all arrive.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from canteen.provision.device_files import read_env_url
from edge.agent import Agent
from edge.config import EdgeConfig, load_config
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox
from protocol import Reading, TemperatureReading
from tests.broker.conftest import SecuredHub
from tests.broker.mqtt_probe import Probe
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


class Probe18B20:
    """A probe giving one reading a poll, each with its own time (a series of 3.0 °C)."""

    name = "fridge-1"
    interval_s = 0.05

    def __init__(self) -> None:
        self.taken: list[str] = []

    def poll(self, now: datetime) -> list[Reading]:
        reading = TemperatureReading(sensor=self.name, ts=now, celsius=3.0)
        self.taken.append(reading.model_dump(mode="json")["ts"])
        return [reading]

    def close(self) -> None:
        pass


def _device_config(hub: SecuredHub, tmp_path: Path, yaml_of: str, login_of: str) -> EdgeConfig:
    """Load one bundle's YAML with another bundle's login, as a Pi's systemd unit would."""
    yaml_bundle = hub.files.bundle("site-a", yaml_of)
    login_bundle = hub.files.bundle("site-a", login_of)
    env = {
        "CANTEEN_MQTT_URL": read_env_url(login_bundle / "edge.env"),
        "CANTEEN_MQTT_CA": str(yaml_bundle / "ca.crt"),
    }
    config = load_config(yaml_bundle / "edge.yaml", env)
    return config.model_copy(update={"state_dir": tmp_path / "edge"})


def _run(config: EdgeConfig, probe: Probe18B20) -> tuple[Agent, MqttLink, Callable[[], None]]:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(config.state_dir / "outbox.sqlite3")
    link = MqttLink(config.mqtt_settings(), config.site, config.device)
    agent = Agent(config, [probe], outbox, link)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(10)
        link.close()
        outbox.close()

    return agent, link, finish


def test_a_device_with_another_devices_login_is_refused_and_keeps_its_readings(
    secured_hub: SecuredHub, tmp_path: Path
) -> None:
    secured_hub.access.add("site-a", "cold-room", "fridge", simulated=True)
    secured_hub.access.add("site-a", "waste-station", "waste", simulated=True)
    hub = Probe(secured_hub.hub_login(), "hub")
    assert not hub.connect().is_failure
    hub.subscribe("canteen/#")
    probe = Probe18B20()
    wrong = _device_config(secured_hub, tmp_path, "cold-room", login_of="waste-station")
    agent, link, finish = _run(wrong, probe)
    try:
        wait_until(link.is_connected, timeout=15, message="the login (valid) to be accepted")
        wait_until(lambda: agent.refusals >= 3, timeout=20, message="three refused PUBACKs")
        assert link.refused >= agent.refusals  # the birth status was refused too
        kept = agent.outbox.backlog()
        assert kept >= len(agent.outgoing) >= 1
        assert agent.outbox.unacknowledged(), "a refused message must stay in the outbox"
    finally:
        finish()
    taken = len(probe.taken)
    assert [t for t, _ in hub.messages if "/cold-room/" in t] == []
    assert Outbox(wrong.state_dir / "outbox.sqlite3").backlog() == taken  # nothing dropped

    right = _device_config(secured_hub, tmp_path, "cold-room", login_of="cold-room")
    probe.interval_s = 3600.0  # no new readings: only the kept ones are to arrive
    agent, link, finish = _run(right, probe)
    try:
        wait_until(lambda: agent.outbox.backlog() == 0, timeout=30, message="the backlog sent")
        assert link.refused == 0
    finally:
        finish()
    topic = "canteen/site-a/cold-room/telemetry"

    def every_reading_arrived() -> bool:
        arrived = {r["ts"] for body in hub.received(topic) for r in json.loads(body)["readings"]}
        return set(probe.taken) <= arrived

    try:
        wait_until(every_reading_arrived, timeout=15, message="every kept reading at the hub")
    finally:
        hub.close()
