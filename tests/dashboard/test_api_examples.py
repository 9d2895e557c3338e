"""Every JSON endpoint of the dashboard shows an example answer in its OpenAPI description."""

from __future__ import annotations

from typing import Any

from canteen.settings import InfluxSettings, MqttSettings
from dashboard.server import create_app
from dashboard.settings import DashboardSettings

NOT_JSON = {"/api/sites/{site}/stream"}  # server-sent events, described in words


def _schema() -> dict[str, Any]:
    settings = DashboardSettings(
        mqtt=MqttSettings.from_url("mqtt://127.0.0.1:1"),
        influx=InfluxSettings(url="http://127.0.0.1:1", database="canteen"),
    )
    schema: dict[str, Any] = create_app(settings, watch_broker=False).openapi()
    return schema


def test_every_json_get_endpoint_has_an_example() -> None:
    missing = []
    for path, operations in _schema()["paths"].items():
        get = operations.get("get")
        if get is None or path in NOT_JSON or path.endswith(".csv"):
            continue
        content = get["responses"]["200"].get("content", {}).get("application/json", {})
        if "example" not in content:
            missing.append(path)
    assert missing == [], f"JSON endpoints without an example answer: {missing}"


def test_an_example_is_the_shape_the_wall_screen_draws() -> None:
    example = _schema()["paths"]["/api/sites/{site}/now"]["get"]["responses"]["200"]
    picture = example["content"]["application/json"]["example"]
    assert {"cold", "dining", "waste", "devices", "alerts", "expected"} <= picture.keys()
    assert picture["cold"][0]["key"] == "cold-room/fridge-1"
