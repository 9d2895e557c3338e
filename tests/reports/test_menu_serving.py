"""The menu page's "Serving now" form pushes a retained config to a waste station."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from canteen.settings import InfluxSettings, MqttSettings
from dashboard.mqtt_feed import BrokerFeed
from reports.kitchen import Dish
from reports.menu import MENU_FILE, MenuStore
from tests.dashboard.conftest import RunningDashboard, form_token
from tests.waiting import wait_until
from timeseries import V1LineWriter


def retained_config(mosquitto: Any, topic: str, timeout: float = 10) -> dict[str, Any]:
    """Subscribe afresh and return the retained message on `topic` (as a device would)."""
    received: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: received.append(bytes(m.payload)) if m.retain else None
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        wait_until(lambda: received, timeout=timeout, message=f"a retained message on {topic}")
    finally:
        client.disconnect()
        client.loop_stop()
    result: dict[str, Any] = json.loads(received[-1])
    return result


def menu_dashboard(
    tmp_path: Path, v1_influx: InfluxSettings, start_dashboard: Callable[..., RunningDashboard],
    site: str, lines: tuple[str, ...] = (),
) -> RunningDashboard:  # fmt: skip
    """Start a dashboard on the broker: waste station `bin-line` at `site`, a dish on its menu."""
    writer = V1LineWriter(v1_influx)
    writer.write(
        [
            f"waste,site={site},device=bin-line,sensor=bin-plate,category=plate grams=120 1",
            "waste,site=elsewhere,device=bin-other,sensor=bin-plate,category=plate grams=80 1",
            *lines,
        ]
    )
    writer.close()
    store = MenuStore(tmp_path / "hub" / MENU_FILE)
    store.put_dish(site, Dish("braised-pork", "红烧肉", "Braised pork", 30.0))
    store.close()
    dashboard = start_dashboard(v1_influx.database, state_dir=tmp_path / "hub")
    wait_until(
        lambda: dashboard.client().get("/api/health").json()["broker_connected"],
        timeout=15,
        message="dashboard on the broker",
    )
    return dashboard


@pytest.mark.integration
def test_a_manager_pushes_the_dish_being_served_to_a_waste_station(
    tmp_path: Path,
    v1_influx: InfluxSettings,
    mosquitto: Any,
    start_dashboard: Callable[..., RunningDashboard],
) -> None:
    dashboard = menu_dashboard(
        tmp_path, v1_influx, start_dashboard, "serve",
        ("temperature,site=serve,device=cold-room,sensor=fridge-1 celsius=3 1",),
    )  # fmt: skip
    manager = dashboard.client("manager")
    page = manager.get("/menu/serve")
    assert page.status_code == 200 and "Serving now" in page.text
    assert "<option>bin-line</option>" in page.text  # only this site's waste stations
    assert "bin-other" not in page.text and "cold-room" not in page.text
    token = form_token(page)
    choice = {"device": "bin-line", "dish": "braised-pork"}
    assert manager.post("/menu/serve/serving", data=choice).status_code == 403  # no CSRF token
    assert dashboard.client("staff").post("/menu/serve/serving", data=choice).status_code == 403

    sent = manager.post("/menu/serve/serving", data={**choice, "csrf_token": token})
    assert sent.status_code == 200 and "Sent to bin-line: Braised pork." in sent.text
    topic = "canteen/serve/bin-line/config"
    assert retained_config(mosquitto, topic) == {
        "v": 1,
        "dish": "braised-pork",
        "category": None,
        "categories": None,
    }

    unknown = manager.post(
        "/menu/serve/serving", data={"device": "bin-other", "dish": "", "csrf_token": token}
    )
    assert unknown.status_code == 422 and "not a waste station of this site" in unknown.text
    cleared = manager.post(
        "/menu/serve/serving", data={"device": "bin-line", "dish": "", "csrf_token": token}
    )
    assert cleared.status_code == 200
    assert retained_config(mosquitto, topic) == {
        "v": 1,
        "dish": None,
        "category": None,
        "categories": None,
    }


def test_nothing_is_published_while_the_broker_is_not_connected() -> None:
    feed = BrokerFeed(MqttSettings(port=1), lambda _: None, lambda *_: None)
    assert feed.publish_retained("canteen/serve/bin-line/config", b'{"v":1}') is False
