"""The hub's retained config reaches a device's waste stations, each bin its own category."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from canteen.settings import MqttSettings
from edge.agent import Agent
from edge.config import EdgeConfig
from edge.health import HealthProbe
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox
from edge.waste.station import WasteStation, WasteStationConfig
from protocol import DeviceConfig, WasteCategory, encode_config
from tests.edge.doubles import T0, FakeLink, ScriptedScale
from tests.waiting import wait_until

SITE, DEVICE = "site-config-push", "bin-station"


def station(sensor: str, category: str = "plate", dish: str | None = None) -> WasteStation:
    """A waste station for one bin on a scripted scale, quick to settle."""
    return WasteStation(
        WasteStationConfig.model_validate(
            {"sensor": sensor, "category": category, "dish": dish,
             "scale": {"type": "serial_scale", "port": "loop://"},
             "detector": {"settle_s": 0.4, "median_window": 1}}
        ),
        scale=ScriptedScale(),
    )  # fmt: skip


def edge_config(tmp_path: Path) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {"site": SITE, "device": DEVICE, "state_dir": tmp_path,
         "sensors": [{"type": "simulated-cold-unit", "name": "fridge-1"}]}
    )  # fmt: skip


class TwoBins:
    """The example waste-station.yaml's device: a plate bin and a prep bin, one agent."""

    def __init__(self, tmp_path: Path) -> None:
        self.plate, self.prep = station("bin-plate", "plate"), station("bin-prep", "prep")
        self.link, self.now = FakeLink(), 1000.0
        health = HealthProbe(tmp_path, tmp_path / "none", tmp_path / "none", lambda _: "yes")
        self.agent = Agent(
            edge_config(tmp_path), [self.plate, self.prep], Outbox(tmp_path / "outbox.sqlite3"),
            self.link, lambda: T0 + timedelta(seconds=self.now), health=health,
            monotonic=lambda: self.now,
        )  # fmt: skip
        self.link.connect(self.agent.status_payload, self.agent.deliver, self.agent.receive_config)
        self.base = 0.0

    def drop(self) -> None:
        """Settle both bins, then 100 g more in each: one drop a bin."""
        for bin_ in (self.plate, self.prep):
            assert isinstance(bin_.scale, ScriptedScale)
            bin_.scale.weights += [self.base] * 10 + [self.base + 100.0] * 10
        self.base += 100.0
        for _ in range(20):
            self.agent.step()
            self.now += 0.2

    def categories(self) -> list[tuple[str, str]]:
        message = self.agent.outbox.pack(100, T0)
        assert message is not None
        return [(r["sensor"], r["category"]) for r in json.loads(message.body)["readings"]]


def test_each_bin_of_a_device_tags_its_drops_with_its_own_pushed_category(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bins = TwoBins(tmp_path)
    bins.drop()
    with caplog.at_level(logging.WARNING, logger="edge.config_push"):
        bins.link.push_config(
            b'{"v": 1, "categories": {"bin-plate": "overproduction", "bin-prep": "spoilage",'
            b' "bin-gone": "prep"}}'
        )
        bins.drop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bin(s) bin-gone that are not waste stations" in warnings[0]
    bins.link.push_config(b'{"v": 1, "categories": {"bin-prep": "spoilage"}}')  # plate cleared
    bins.drop()
    with caplog.at_level(logging.WARNING, logger="edge.config_push"):  # bad category: all ignored
        bins.link.push_config(b'{"v": 1, "categories": {"bin-plate": "prep", "bin-prep": "x"}}')
        bins.drop()
    assert "categories.bin-prep: Input should be 'plate'" in caplog.text
    bins.link.push_config(b'{"v": 1, "category": "prep"}')  # a config from before: every bin
    bins.drop()
    assert bins.categories() == [
        ("bin-plate", "plate"), ("bin-prep", "prep"),
        ("bin-plate", "overproduction"), ("bin-prep", "spoilage"),
        ("bin-plate", "plate"), ("bin-prep", "spoilage"),
        ("bin-plate", "plate"), ("bin-prep", "spoilage"),
        ("bin-plate", "prep"), ("bin-prep", "prep"),
    ]  # fmt: skip


@pytest.mark.integration
def test_a_config_retained_before_the_agent_connects_reaches_the_station(
    tmp_path: Path, mosquitto: Any, publisher: Callable[..., None]
) -> None:
    topic = f"canteen/{SITE}/{DEVICE}/config"
    pushed = DeviceConfig(
        v=1, dish="braised-pork", categories={"bin-plate": WasteCategory.PREP}
    )  # fmt: skip
    publisher(topic, encode_config(pushed), retain=True)
    plate, prep = station("bin-plate", dish="rice"), station("bin-prep", "prep")
    link = MqttLink(MqttSettings(port=mosquitto.port), SITE, DEVICE)
    agent = Agent(edge_config(tmp_path), [plate, prep], Outbox(tmp_path / "outbox.sqlite3"), link)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: (plate.dish, plate.category) == ("braised-pork", WasteCategory.PREP),
            timeout=15,
            message="pushed dish and category",
        )
        assert (prep.dish, prep.category) == ("braised-pork", WasteCategory.PREP)
        cleared = DeviceConfig(v=1, categories={"bin-prep": WasteCategory.SPOILAGE})
        publisher(topic, encode_config(cleared), retain=True)
        wait_until(  # absent or null: the bin's own again; the other bin has its own entry
            lambda: (
                (plate.dish, plate.category, prep.category)
                == ("rice", WasteCategory.PLATE, WasteCategory.SPOILAGE)
            ),
            timeout=15,
            message="the plate bin cleared, the prep bin set",
        )
    finally:
        stop.set()
        thread.join(10)
        link.close()
        publisher(topic, b"", retain=True)  # leave no retained config for other tests
