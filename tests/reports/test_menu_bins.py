"""The menu page's "Bins" section sets a waste station's category, pushed as its retained config.

The whole path against the real Mosquitto and InfluxDB: the manager's form, the retained
config on the broker (dish and category together), an edge agent on its own MQTT link
applying it, and the category on the station's next reading as it reaches the broker.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from canteen.settings import InfluxSettings, MqttSettings
from dashboard.report_text import words
from edge.agent import Agent
from edge.config import EdgeConfig
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox
from edge.waste.station import WasteStation, WasteStationConfig
from protocol import WasteCategory
from reports.menu import MENU_FILE, Bin, MenuStore
from tests.dashboard.conftest import RunningDashboard, form_token
from tests.edge.doubles import ScriptedScale
from tests.reports.test_menu_serving import menu_dashboard, retained_config
from tests.waiting import wait_until

SITE, DEVICE = "bins", "bin-line"
CONFIG = f"canteen/{SITE}/{DEVICE}/config"


@contextmanager
def telemetry_watch(mosquitto: Any, topic: str) -> Iterator[list[dict[str, Any]]]:
    """Collect the readings published on a telemetry topic while the block runs."""
    readings: list[dict[str, Any]] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: readings.extend(json.loads(m.payload)["readings"])
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        assert subscribed.wait(10), f"no subscription to {topic}"
        yield readings
    finally:
        client.disconnect()
        client.loop_stop()


class Bench:
    """A waste station (configured as a plate bin) run by a real agent on its own link."""

    def __init__(self, tmp_path: Path, mosquitto: Any) -> None:
        self.scale = ScriptedScale()
        self.station = WasteStation(
            WasteStationConfig.model_validate(
                {"sensor": "bin-plate", "category": "plate", "interval_s": 0.01,
                 "scale": {"type": "serial_scale", "port": "loop://"},
                 "detector": {"settle_s": 0.1, "median_window": 1}}
            ),
            scale=self.scale,
        )  # fmt: skip
        config = EdgeConfig.model_validate(
            {"site": SITE, "device": DEVICE, "state_dir": tmp_path / "edge",
             "sensors": [{"type": "simulated-cold-unit", "name": "fridge-1"}]}
        )  # fmt: skip
        self.link = MqttLink(MqttSettings(port=mosquitto.port), SITE, DEVICE)
        outbox = Outbox(tmp_path / "edge" / "outbox.sqlite3")
        self.agent = Agent(config, [self.station], outbox, self.link)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop,), daemon=True)
        self.base = 0.0

    def drop(self, readings: list[dict[str, Any]]) -> dict[str, Any]:
        """Settle the bin, add 150 g, and return the reading the broker then carries."""
        before = len(readings)
        self.scale.weights += [self.base] * 30 + [self.base + 150.0] * 30
        self.base += 150.0
        wait_until(lambda: len(readings) > before, timeout=15, message="the drop's reading")
        return readings[-1]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.link.close()


def post(client: httpx.Client, path: str, token: str, **fields: str) -> httpx.Response:
    """Post a form of the menu page with its CSRF token."""
    return client.post(path, data={**fields, "csrf_token": token})


@pytest.fixture
def dashboard(
    tmp_path: Path, v1_influx: InfluxSettings, start_dashboard: Callable[..., RunningDashboard]
) -> RunningDashboard:
    """A dashboard whose history has one waste station at SITE, and a dish on its menu."""
    return menu_dashboard(tmp_path, v1_influx, start_dashboard, SITE)


@pytest.mark.integration
def test_a_bins_category_set_on_the_menu_page_tags_the_stations_next_drops(
    tmp_path: Path, mosquitto: Any, dashboard: RunningDashboard, publisher: Callable[..., None]
) -> None:
    manager = dashboard.client("manager")
    page = manager.get(f"/menu/{SITE}")
    assert page.status_code == 200 and "Bins (the category" in page.text
    assert f'name="device" value="{DEVICE}"' in page.text and "bin-other" not in page.text
    token = form_token(page)
    choice = {"device": DEVICE, "category": "overproduction"}
    assert manager.post(f"/menu/{SITE}/bins", data=choice).status_code == 403  # no CSRF token
    assert dashboard.client("staff").post(f"/menu/{SITE}/bins", data=choice).status_code == 403

    bench = Bench(tmp_path, mosquitto)
    try:
        served = post(manager, f"/menu/{SITE}/serving", token, device=DEVICE, dish="braised-pork")
        assert served.status_code == 200
        sent = post(manager, f"/menu/{SITE}/bins", token, **choice)
        assert (
            sent.status_code == 200 and f"Sent to {DEVICE}: category overproduction." in sent.text
        )
        assert '<option value="overproduction" selected>' in sent.text
        # the category came with the dish pushed before: setting one keeps the other
        assert retained_config(mosquitto, CONFIG) == {
            "v": 1, "dish": "braised-pork", "category": "overproduction"
        }  # fmt: skip

        bench.thread.start()
        wait_until(
            lambda: bench.station.category is WasteCategory.OVERPRODUCTION,
            timeout=15,
            message="the pushed category at the station",
        )
        with telemetry_watch(mosquitto, f"canteen/{SITE}/{DEVICE}/telemetry") as readings:
            reading = bench.drop(readings)
            assert (reading["category"], reading["dish"]) == ("overproduction", "braised-pork")

            cleared = post(manager, f"/menu/{SITE}/bins", token, device=DEVICE, category="")
            assert (
                cleared.status_code == 200
                and f"Sent to {DEVICE}: category the station" in cleared.text
            )
            assert retained_config(mosquitto, CONFIG) == {
                "v": 1, "dish": "braised-pork", "category": None
            }  # fmt: skip
            wait_until(lambda: bench.station.category is WasteCategory.PLATE, timeout=15)
            reading = bench.drop(readings)
            assert (reading["category"], reading["dish"]) == ("plate", "braised-pork")

            # and a dish pushed afterwards keeps the category
            post(manager, f"/menu/{SITE}/bins", token, device=DEVICE, category="prep")
            post(manager, f"/menu/{SITE}/serving", token, device=DEVICE, dish="")
            assert retained_config(mosquitto, CONFIG) == {"v": 1, "dish": None, "category": "prep"}
            wait_until(lambda: bench.station.dish is None, timeout=15)
            assert bench.drop(readings)["category"] == "prep"
    finally:
        bench.close()
        publisher(CONFIG, b"", retain=True)  # leave no retained config for other tests


@pytest.mark.integration
def test_bad_bin_input_gets_a_clear_error_and_changes_nothing(
    tmp_path: Path, mosquitto: Any, dashboard: RunningDashboard, publisher: Callable[..., None]
) -> None:
    manager = dashboard.client("manager")
    token = form_token(manager.get(f"/menu/{SITE}"))
    try:
        assert post(manager, f"/menu/{SITE}/bins", token, device=DEVICE, category="prep").is_success
        refusals = [
            (SITE, {"device": DEVICE, "category": "compost"}, "category: 'compost' is not one of"),
            (SITE, {"device": "Bin Line", "category": "prep"}, "device: 'Bin Line' is not a slug"),
            (SITE, {"category": "prep"}, "device: '' is not a slug"),
            ("nowhere", {"device": DEVICE, "category": "prep"}, "site: 'nowhere' has sent no"),
        ]
        for site, fields, error in refusals:
            answer = post(manager, f"/menu/{site}/bins", token, **fields)
            assert answer.status_code == 422 and error in unescape(answer.text), fields
        assert post(manager, "/menu/No Site/bins", token, **fields).status_code == 422
        assert retained_config(mosquitto, CONFIG) == {"v": 1, "dish": None, "category": "prep"}
    finally:
        publisher(CONFIG, b"", retain=True)
    with pytest.raises(AssertionError, match="retained message"):
        retained_config(mosquitto, f"canteen/nowhere/{DEVICE}/config", timeout=1)
    store = MenuStore(tmp_path / "hub" / MENU_FILE)
    assert store.bins("nowhere") == {}
    assert store.bins(SITE) == {DEVICE: Bin(DEVICE, WasteCategory.PREP)}


@pytest.mark.integration
def test_a_station_entered_by_name_gets_a_category_and_then_a_dish(
    mosquitto: Any, dashboard: RunningDashboard, publisher: Callable[..., None]
) -> None:
    manager = dashboard.client("manager")
    token = form_token(manager.get(f"/menu/{SITE}?lang=zh-CN"))
    topic = f"canteen/{SITE}/bin-new/config"
    try:
        sent = post(
            manager, f"/menu/{SITE}/bins?lang=zh-CN", token, device="bin-new", category="prep"
        )
        zh = words("zh-CN")
        assert zh["prep"] == "备餐损耗" and zh["bins"].startswith("垃圾桶")
        text = zh["bin_sent"].format(device="bin-new", category=zh["prep"])
        assert sent.status_code == 200 and text in sent.text
        assert zh["bins"] in sent.text and 'value="bin-new"' in sent.text
        assert retained_config(mosquitto, topic) == {"v": 1, "dish": None, "category": "prep"}
        # the serving form now knows the station too
        served = post(
            manager, f"/menu/{SITE}/serving", token, device="bin-new", dish="braised-pork"
        )
        assert served.status_code == 200
        assert retained_config(mosquitto, topic) == {
            "v": 1, "dish": "braised-pork", "category": "prep"
        }  # fmt: skip
        assert "<td>Braised pork</td>" in served.text  # the bins table shows the pushed dish
    finally:
        publisher(topic, b"", retain=True)
