"""The hub's retained config reaches a waste station through a real Mosquitto."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canteen.settings import MqttSettings
from edge.agent import Agent
from edge.config import EdgeConfig
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox
from edge.waste.station import WasteStation, WasteStationConfig
from protocol import DeviceConfig, WasteCategory, encode_config
from tests.edge.doubles import ScriptedScale
from tests.waiting import wait_until

SITE, DEVICE = "site-config-push", "bin-station"


@pytest.mark.integration
def test_a_config_retained_before_the_agent_connects_reaches_the_station(
    tmp_path: Path, mosquitto: Any, publisher: Callable[..., None]
) -> None:
    topic = f"canteen/{SITE}/{DEVICE}/config"
    pushed = DeviceConfig(v=1, dish="braised-pork", category=WasteCategory.PREP)
    publisher(topic, encode_config(pushed), retain=True)
    station = WasteStation(
        WasteStationConfig.model_validate(
            {"sensor": "bin-plate", "scale": {"type": "serial_scale", "port": "loop://"},
             "dish": "rice"}
        ),
        scale=ScriptedScale(),
    )  # fmt: skip
    config = EdgeConfig.model_validate(
        {"site": SITE, "device": DEVICE, "state_dir": tmp_path,
         "sensors": [{"type": "simulated-cold-unit", "name": "fridge-1"}]}
    )  # fmt: skip
    link = MqttLink(MqttSettings(port=mosquitto.port), SITE, DEVICE)
    agent = Agent(config, [station], Outbox(tmp_path / "outbox.sqlite3"), link)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: (station.dish, station.category) == ("braised-pork", WasteCategory.PREP),
            timeout=15,
            message="pushed dish and category",
        )
        publisher(topic, encode_config(DeviceConfig(v=1, dish=None)), retain=True)
        wait_until(  # both absent or null: the station's own again
            lambda: (station.dish, station.category) == ("rice", WasteCategory.PLATE),
            timeout=15,
            message="dish and category cleared",
        )
    finally:
        stop.set()
        thread.join(10)
        link.close()
        publisher(topic, b"", retain=True)  # leave no retained config for other tests
