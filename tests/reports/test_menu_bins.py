"""The menu page's "Bins" section sets each bin's category, pushed in its station's config.

The whole path against the real Mosquitto and InfluxDB: the manager's form, the retained
config on the broker (the dish and every bin's category together), an edge agent running
two bins on its own MQTT link applying it, and each bin's category on its next reading as
it reaches the broker.
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
from reports.menu import MENU_FILE, MenuStore
from reports.stations import Bin, Station
from tests.dashboard.conftest import RunningDashboard, form_token
from tests.edge.doubles import ScriptedScale
from tests.reports.test_menu_serving import menu_dashboard, retained_config
from tests.waiting import wait_until

SITE, DEVICE = "bins", "bin-line"
CONFIG = f"canteen/{SITE}/{DEVICE}/config"
PREP_BIN = f"waste,site={SITE},device={DEVICE},sensor=bin-prep,category=prep grams=90 2"


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


def bin_station(sensor: str, category: str) -> WasteStation:
    """One bin on a scripted scale, quick to settle."""
    return WasteStation(
        WasteStationConfig.model_validate(
            {"sensor": sensor, "category": category, "interval_s": 0.01,
             "scale": {"type": "serial_scale", "port": "loop://"},
             "detector": {"settle_s": 0.1, "median_window": 1}}
        ),
        scale=ScriptedScale(),
    )  # fmt: skip


class Bench:
    """The example waste station's two bins (a plate bin, a prep bin) run by a real agent."""

    def __init__(self, tmp_path: Path, mosquitto: Any) -> None:
        self.bins = {"bin-plate": bin_station("bin-plate", "plate"),
                     "bin-prep": bin_station("bin-prep", "prep")}  # fmt: skip
        config = EdgeConfig.model_validate(
            {"site": SITE, "device": DEVICE, "state_dir": tmp_path / "edge",
             "sensors": [{"type": "simulated-cold-unit", "name": "fridge-1"}]}
        )  # fmt: skip
        self.link = MqttLink(MqttSettings(port=mosquitto.port), SITE, DEVICE)
        outbox = Outbox(tmp_path / "edge" / "outbox.sqlite3")
        self.agent = Agent(config, list(self.bins.values()), outbox, self.link)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop,), daemon=True)
        self.base = dict.fromkeys(self.bins, 0.0)

    def categories(self) -> dict[str, WasteCategory]:
        return {sensor: station.category for sensor, station in self.bins.items()}

    def drop(self, readings: list[dict[str, Any]], sensor: str) -> dict[str, Any]:
        """Settle one bin, add 150 g, and return the reading the broker then carries."""
        before = len(readings)
        scale = self.bins[sensor].scale
        assert isinstance(scale, ScriptedScale)
        scale.weights += [self.base[sensor]] * 30 + [self.base[sensor] + 150.0] * 30
        self.base[sensor] += 150.0
        wait_until(lambda: len(readings) > before, timeout=15, message=f"{sensor}'s reading")
        (reading,) = readings[before:]
        assert reading["sensor"] == sensor
        return reading

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.link.close()


def post(client: httpx.Client, path: str, token: str, **fields: str) -> httpx.Response:
    """Post a form of the menu page with its CSRF token."""
    return client.post(path, data={**fields, "csrf_token": token})


def bin_form(device: str, sensor: str) -> str:
    """The hidden fields that name one bin in its row of the Bins table."""
    return f'value="{device}"><input type="hidden" name="sensor" value="{sensor}">'


@pytest.fixture
def dashboard(
    tmp_path: Path, v1_influx: InfluxSettings, start_dashboard: Callable[..., RunningDashboard]
) -> RunningDashboard:
    """A dashboard whose history has one waste station with two bins, and a dish on its menu."""
    return menu_dashboard(tmp_path, v1_influx, start_dashboard, SITE, (PREP_BIN,))


@pytest.mark.integration
def test_two_bins_of_one_station_get_their_own_categories_from_the_menu_page(
    tmp_path: Path, mosquitto: Any, dashboard: RunningDashboard, publisher: Callable[..., None]
) -> None:
    manager = dashboard.client("manager")
    page = manager.get(f"/menu/{SITE}")
    assert page.status_code == 200 and "Bins (the category each bin" in page.text
    # both bins seen sending waste are listed, each with its own form; no other site's
    assert bin_form(DEVICE, "bin-plate") in page.text and bin_form(DEVICE, "bin-prep") in page.text
    assert "bin-other" not in page.text
    token = form_token(page)
    choice = {"device": DEVICE, "sensor": "bin-plate", "category": "overproduction"}
    assert manager.post(f"/menu/{SITE}/bins", data=choice).status_code == 403  # no CSRF token
    assert dashboard.client("staff").post(f"/menu/{SITE}/bins", data=choice).status_code == 403

    bench = Bench(tmp_path, mosquitto)
    try:
        served = post(manager, f"/menu/{SITE}/serving", token, device=DEVICE, dish="braised-pork")
        assert served.status_code == 200
        sent = post(manager, f"/menu/{SITE}/bins", token, **choice)
        assert sent.status_code == 200
        assert f"Sent to {DEVICE}, bin-plate: category overproduction." in sent.text
        prep = {"device": DEVICE, "sensor": "bin-prep", "category": "spoilage"}
        assert post(manager, f"/menu/{SITE}/bins", token, **prep).status_code == 200
        # the dish pushed before and the first bin's category come with the second bin's
        assert retained_config(mosquitto, CONFIG) == {
            "v": 1, "dish": "braised-pork", "category": None,
            "categories": {"bin-plate": "overproduction", "bin-prep": "spoilage"},
        }  # fmt: skip
        page = manager.get(f"/menu/{SITE}").text
        assert page.count('<option value="overproduction" selected>') == 1
        assert page.count('<option value="spoilage" selected>') == 1

        bench.thread.start()
        wait_until(
            lambda: (
                bench.categories()
                == {"bin-plate": WasteCategory.OVERPRODUCTION, "bin-prep": WasteCategory.SPOILAGE}
            ),
            timeout=15,
            message="each bin's pushed category at its station",
        )
        with telemetry_watch(mosquitto, f"canteen/{SITE}/{DEVICE}/telemetry") as readings:
            plate = bench.drop(readings, "bin-plate")
            assert (plate["category"], plate["dish"]) == ("overproduction", "braised-pork")
            assert bench.drop(readings, "bin-prep")["category"] == "spoilage"

            cleared = post(manager, f"/menu/{SITE}/bins", token, device=DEVICE,
                           sensor="bin-plate", category="")  # fmt: skip
            assert cleared.status_code == 200
            assert f"Sent to {DEVICE}, bin-plate: category the bin's own." in unescape(cleared.text)
            assert retained_config(mosquitto, CONFIG) == {
                "v": 1, "dish": "braised-pork", "category": None,
                "categories": {"bin-prep": "spoilage"},
            }  # fmt: skip
            wait_until(lambda: bench.bins["bin-plate"].category is WasteCategory.PLATE, timeout=15)
            plate = bench.drop(readings, "bin-plate")
            assert (plate["category"], plate["dish"]) == ("plate", "braised-pork")
            assert bench.drop(readings, "bin-prep")["category"] == "spoilage"  # kept

            # and a dish pushed afterwards keeps the bins' categories
            post(manager, f"/menu/{SITE}/serving", token, device=DEVICE, dish="")
            assert retained_config(mosquitto, CONFIG) == {
                "v": 1, "dish": None, "category": None, "categories": {"bin-prep": "spoilage"}
            }  # fmt: skip
            wait_until(lambda: bench.bins["bin-prep"].dish is None, timeout=15)
            assert bench.drop(readings, "bin-prep")["category"] == "spoilage"
    finally:
        bench.close()
        publisher(CONFIG, b"", retain=True)  # leave no retained config for other tests
    store = MenuStore(tmp_path / "hub" / MENU_FILE)
    assert store.station(SITE, DEVICE) == Station(
        DEVICE, bins=(Bin("bin-plate"), Bin("bin-prep", WasteCategory.SPOILAGE))
    )


@pytest.mark.integration
def test_bad_bin_input_gets_a_clear_error_and_changes_nothing(
    tmp_path: Path, mosquitto: Any, dashboard: RunningDashboard, publisher: Callable[..., None]
) -> None:
    manager = dashboard.client("manager")
    token = form_token(manager.get(f"/menu/{SITE}"))
    prep = {"sensor": "bin-prep", "category": "prep"}
    try:
        assert post(manager, f"/menu/{SITE}/bins", token, device=DEVICE, **prep).is_success
        refusals = [
            (SITE, {"device": DEVICE, "sensor": "bin-prep", "category": "compost"},
             "category: 'compost' is not one of"),
            (SITE, {"device": "Bin Line", **prep}, "device: 'Bin Line' is not a slug"),
            (SITE, {"device": DEVICE, "sensor": "Prep Bin", "category": "prep"},
             "sensor: 'Prep Bin' is not a slug"),
            (SITE, prep, "device: '' is not a slug"),
            ("nowhere", {"device": DEVICE, **prep}, "site: 'nowhere' has sent no"),
        ]  # fmt: skip
        for site, fields, error in refusals:
            answer = post(manager, f"/menu/{site}/bins", token, **fields)
            assert answer.status_code == 422 and error in unescape(answer.text), fields
        assert post(manager, "/menu/No Site/bins", token, **fields).status_code == 422
        assert retained_config(mosquitto, CONFIG) == {
            "v": 1, "dish": None, "category": None, "categories": {"bin-prep": "prep"}
        }  # fmt: skip
    finally:
        publisher(CONFIG, b"", retain=True)
    with pytest.raises(AssertionError, match="retained message"):
        retained_config(mosquitto, f"canteen/nowhere/{DEVICE}/config", timeout=1)
    store = MenuStore(tmp_path / "hub" / MENU_FILE)
    assert store.stations("nowhere") == {}
    assert store.stations(SITE) == {
        DEVICE: Station(DEVICE, bins=(Bin("bin-prep", WasteCategory.PREP),))
    }


@pytest.mark.integration
def test_a_bin_entered_by_name_gets_a_category_and_then_a_dish(
    mosquitto: Any, dashboard: RunningDashboard, publisher: Callable[..., None]
) -> None:
    manager = dashboard.client("manager")
    token = form_token(manager.get(f"/menu/{SITE}?lang=zh-CN"))
    topic = f"canteen/{SITE}/bin-new/config"
    try:
        sent = post(manager, f"/menu/{SITE}/bins?lang=zh-CN", token,
                    device="bin-new", sensor="bin-soup", category="prep")  # fmt: skip
        zh = words("zh-CN")
        assert zh["prep"] == "备餐损耗" and zh["bins"].startswith("垃圾桶")
        text = zh["bin_sent"].format(device="bin-new", sensor="bin-soup", category=zh["prep"])
        assert sent.status_code == 200 and text in sent.text
        assert zh["bins"] in sent.text and bin_form("bin-new", "bin-soup") in sent.text
        assert retained_config(mosquitto, topic) == {
            "v": 1, "dish": None, "category": None, "categories": {"bin-soup": "prep"}
        }  # fmt: skip
        # the serving form now knows the station too
        served = post(
            manager, f"/menu/{SITE}/serving", token, device="bin-new", dish="braised-pork"
        )
        assert served.status_code == 200
        assert retained_config(mosquitto, topic) == {
            "v": 1, "dish": "braised-pork", "category": None, "categories": {"bin-soup": "prep"}
        }  # fmt: skip
        assert "<td>Braised pork</td>" in served.text  # the bins table shows the pushed dish
    finally:
        publisher(topic, b"", retain=True)


@pytest.mark.integration
def test_a_device_wide_category_kept_from_before_is_shown_and_can_be_cleared(
    tmp_path: Path, mosquitto: Any, dashboard: RunningDashboard, publisher: Callable[..., None]
) -> None:
    store = MenuStore(tmp_path / "hub" / MENU_FILE)  # as migration 3 leaves a schema 2 row
    store.put_station(SITE, Station(DEVICE, "braised-pork", WasteCategory.OVERPRODUCTION))
    manager = dashboard.client("manager")
    page = manager.get(f"/menu/{SITE}")
    assert bin_form(DEVICE, "") in page.text and "every bin not set here" in page.text
    token = form_token(page)
    try:
        plate = {"device": DEVICE, "sensor": "bin-plate", "category": "prep"}
        assert post(manager, f"/menu/{SITE}/bins", token, **plate).is_success
        assert retained_config(mosquitto, CONFIG) == {  # the prep bin still has the default
            "v": 1, "dish": "braised-pork", "category": "overproduction",
            "categories": {"bin-plate": "prep"},
        }  # fmt: skip
        cleared = post(manager, f"/menu/{SITE}/bins", token, device=DEVICE, category="")
        assert "Sent to bin-line, every bin not set here: category the bin" in cleared.text
        assert retained_config(mosquitto, CONFIG) == {
            "v": 1, "dish": "braised-pork", "category": None, "categories": {"bin-plate": "prep"}
        }  # fmt: skip
        assert bin_form(DEVICE, "") not in cleared.text  # nothing left to clear
    finally:
        publisher(CONFIG, b"", retain=True)
        store.close()
