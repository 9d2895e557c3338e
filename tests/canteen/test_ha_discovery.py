"""Home Assistant discovery: retained configs on a real Mosquitto, templates rendered by Jinja."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jinja2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from canteen.cli import main
from canteen.ha_discovery import (
    AVAILABILITY_TEMPLATE,
    Entity,
    discovery_config,
    discovery_messages,
    entities_in_influx,
)
from canteen.settings import InfluxSettings
from timeseries import InfluxQL
from timeseries.influx import V1LineWriter

PROTOCOL_EXAMPLE = {
    "v": 1,
    "seq": 1042,
    "sent": "2026-11-23T03:00:05.120Z",
    "readings": [
        {"kind": "temperature", "sensor": "fridge-1", "ts": "2026-11-23T03:00:05.000Z",
         "celsius": 3.62},
        {"kind": "door", "sensor": "fridge-1", "ts": "2026-11-23T03:00:04.310Z", "open": True},
        {"kind": "waste", "sensor": "bin-plate", "ts": "2026-11-23T03:00:01.900Z", "grams": 412.0,
         "category": "plate", "dish": "braised-pork"},
        {"kind": "occupancy", "sensor": "dining-main", "ts": "2026-11-23T03:00:00.000Z",
         "entered": 3, "exited": 1, "present": 42},
    ],
}  # fmt: skip


class State:
    """Stands for Home Assistant's `this` (the entity's state object)."""

    def __init__(self, state: str) -> None:
        self.state = state


def _render(template: str, payload: dict[str, Any], previous: str = "unknown") -> str:
    return (
        jinja2.Environment(autoescape=False)  # noqa: S701 (HA renders text, not HTML)
        .from_string(template)
        .render(value_json=payload, this=State(previous))
    )


@pytest.mark.parametrize(
    ("sensor", "kind", "expected"),
    [
        ("fridge-1", "temperature", "3.62"),
        ("fridge-1", "door", "ON"),
        ("bin-plate", "waste", "412.0"),
        ("dining-main", "occupancy", "42"),
    ],
)
def test_value_templates_pick_their_reading_from_the_protocol_example(
    sensor: str, kind: str, expected: str
) -> None:
    config = discovery_config(Entity("site-a", "dev", sensor, kind))
    assert _render(config["value_template"], PROTOCOL_EXAMPLE) == expected


def test_a_batch_without_the_sensor_keeps_the_state_and_the_last_reading_wins() -> None:
    template = discovery_config(Entity("a", "d", "fridge-1", "temperature"))["value_template"]
    other = {"readings": [{"kind": "temperature", "sensor": "fridge-2", "celsius": 9.0}]}
    assert _render(template, other, previous="3.62") == "3.62"
    backlog = {"readings": [
        {"kind": "temperature", "sensor": "fridge-1", "celsius": 4.0},
        {"kind": "door", "sensor": "fridge-1", "open": False},
        {"kind": "temperature", "sensor": "fridge-1", "celsius": 4.5},
    ]}  # fmt: skip
    assert _render(template, backlog) == "4.5"
    door = discovery_config(Entity("a", "d", "fridge-1", "door"))["value_template"]
    assert _render(door, backlog) == "OFF"
    assert _render(door, other, previous="on") == "ON"


def test_availability_follows_the_status_birth_and_last_will() -> None:
    assert _render(AVAILABILITY_TEMPLATE, {"v": 1, "online": True}) == "online"
    assert _render(AVAILABILITY_TEMPLATE, {"v": 1, "online": False}) == "offline"


def _retained(host: str, port: int, prefix: str, expect: int) -> dict[str, tuple[bytes, bool]]:
    seen: dict[str, tuple[bytes, bool]] = {}
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        seen[message.topic] = (message.payload, message.retain)
        if len(seen) >= expect:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect(host, port)
    client.subscribe(f"{prefix}/#", qos=1)
    client.loop_start()
    done.wait(10)
    time.sleep(0.2)  # bounded wait above; this only lets a surplus message show up
    client.disconnect()
    client.loop_stop()
    return seen


@pytest.mark.integration
def test_publish_sends_retained_configs_for_the_sensors_influx_has_seen(
    mosquitto: Any, v1_influx: InfluxSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    writer = V1LineWriter(v1_influx)
    writer.write([
        f"temperature,device=cold-1,sensor=fridge-1,site=ha-site celsius=3.5 {now}",
        f"door,device=cold-1,sensor=fridge-1,site=ha-site open=false {now}",
        f"waste,category=plate,device=scale-1,dish=r,sensor=bin-plate,site=ha-site grams=8 {now}",
        f"waste,category=prep,device=scale-1,sensor=bin-plate,site=ha-site grams=20 {now}",
        f"occupancy,device=door-cam,sensor=dining-main,site=ha-site present=5i {now}",
        f"temperature,device=cold-9,sensor=fridge-9,site=other-site celsius=3.5 {now}",
    ])  # fmt: skip
    writer.close()
    entities = entities_in_influx(InfluxQL(v1_influx), "ha-site")
    assert [(e.device, e.sensor, e.measurement) for e in entities] == [
        ("cold-1", "fridge-1", "door"),
        ("cold-1", "fridge-1", "temperature"),
        ("door-cam", "dining-main", "occupancy"),
        ("scale-1", "bin-plate", "waste"),
    ]

    monkeypatch.setenv("CANTEEN_MQTT_URL", mosquitto.url)
    monkeypatch.setenv("CANTEEN_INFLUX_URL", v1_influx.url)
    monkeypatch.setenv("CANTEEN_INFLUX_DB", v1_influx.database)
    prefix = f"ha-test-{v1_influx.database}"
    assert main(["ha-discovery", "publish", "--site", "ha-site", "--prefix", prefix]) == 0

    seen = _retained(mosquitto.host, mosquitto.port, prefix, expect=4)
    expected = dict(discovery_messages(entities, prefix))
    assert (
        set(seen)
        == set(expected)
        == {
            f"{prefix}/binary_sensor/canteen_ha-site_cold-1_fridge-1/config",
            f"{prefix}/sensor/canteen_ha-site_cold-1_fridge-1/config",
            f"{prefix}/sensor/canteen_ha-site_door-cam_dining-main/config",
            f"{prefix}/sensor/canteen_ha-site_scale-1_bin-plate/config",
        }
    )
    for topic, (payload, retained) in seen.items():
        assert retained, topic
        assert json.loads(payload) == json.loads(expected[topic])
    fridge = json.loads(seen[f"{prefix}/sensor/canteen_ha-site_cold-1_fridge-1/config"][0])
    assert fridge["device_class"] == "temperature"
    assert fridge["unit_of_measurement"] == "°C"
    assert fridge["state_topic"] == "canteen/ha-site/cold-1/telemetry"
    assert fridge["availability_topic"] == "canteen/ha-site/cold-1/status"
    door = json.loads(seen[f"{prefix}/binary_sensor/canteen_ha-site_cold-1_fridge-1/config"][0])
    assert door["device_class"] == "door"
    assert door["unique_id"] != fridge["unique_id"]
