"""The dashboard against real Mosquitto and InfluxDB: history at start, live pushes after."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from canteen.local_services import LocalInfluxDB
from canteen.settings import InfluxSettings
from protocol import (
    Channel,
    OccupancyReading,
    Status,
    TemperatureReading,
    WasteReading,
    device_topic,
    encode_status,
    encode_telemetry,
    epoch_ms,
)
from protocol.storage import reading_point, to_line
from tests.dashboard.conftest import RunningDashboard
from timeseries import open_writer

pytestmark = pytest.mark.integration

Publish = Callable[..., None]


def _store(influxdb: LocalInfluxDB, database: str, site: str, readings: list[Any]) -> None:
    writer = open_writer(InfluxSettings(url=influxdb.url, database=database), "v1")
    writer.write([to_line(reading_point(site, device, r)) for device, r in readings])
    writer.close()


def _events(
    url: str, cookies: httpx.Cookies, timeout: float = 20.0
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-sent events from a stream, as (event name, decoded data)."""
    with (
        httpx.Client(timeout=httpx.Timeout(5.0, read=timeout), cookies=cookies) as client,
        client.stream("GET", url) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = "message"
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                yield name, json.loads(line.removeprefix("data: "))
                name = "message"


def test_a_restarted_dashboard_shows_stored_history_at_once(
    start_dashboard: Callable[..., RunningDashboard],
    influxdb: LocalInfluxDB,
    influx_database: str,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    temperatures = [
        (
            "cold-room",
            TemperatureReading(sensor="fridge-1", ts=now - timedelta(minutes=m), celsius=c),
        )
        for m, c in ((90, 3.0), (30, 3.5), (2, 6.25))
    ]
    drops = [
        (
            "waste-station",
            WasteReading(sensor="bin-1", ts=now - timedelta(seconds=s), grams=g, category=c),
        )
        for s, g, c in ((40, 300.0, "plate"), (30, 120.0, "prep"), (20, 80.0, "plate"))
    ]
    entrance = [
        (
            "entrance",
            OccupancyReading(
                sensor="door", ts=now - timedelta(seconds=50), entered=9, exited=1, present=8
            ),
        )
    ]
    _store(influxdb, influx_database, "hist-site", temperatures + drops + entrance)

    dashboard = start_dashboard(influx_database, default_site="hist-site")
    picture = dashboard.client().get(f"{dashboard.url}/api/sites/hist-site/now", timeout=10).json()

    assert picture["history_loaded"] is True
    [tile] = picture["cold"]
    assert tile["key"] == "cold-room/fridge-1"
    assert tile["celsius"] == 6.25
    assert tile["state"] == "warning"
    assert len(tile["spark"]) == 3
    assert picture["waste"]["total_g"] == 500.0
    assert picture["waste"]["by_category"]["plate"] == 380.0
    assert picture["dining"]["present"] == 8
    assert picture["dining"]["entered"] == 9


def test_a_published_reading_is_pushed_to_a_connected_screen(
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
) -> None:
    dashboard = start_dashboard(influx_database)
    stream = _events(f"{dashboard.url}/api/sites/live-site/stream", dashboard.login())
    name, first = next(stream)
    assert name == "snapshot"
    assert first["cold"] == []

    now = datetime.now(UTC)
    reading = TemperatureReading(sensor="freezer-2", ts=now, celsius=-17.5)
    publisher(
        device_topic("live-site", "cold-room", Channel.TELEMETRY),
        encode_telemetry(1, now, [reading]),
    )
    document = next(data for name, data in stream if name == "update")
    stream.close()
    [part] = document["sections"]
    assert part["cold"]["key"] == "cold-room/freezer-2"
    assert part["cold"]["celsius"] == -17.5
    assert part["cold"]["kind"] == "freezer"
    assert part["cold"]["spark"] == [[epoch_ms(now) - epoch_ms(now) % 120_000, -17.5]]


def test_a_devices_last_will_shows_it_offline(
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
) -> None:
    dashboard = start_dashboard(influx_database)
    stream = _events(f"{dashboard.url}/api/sites/will-site/stream", dashboard.login())
    assert next(stream)[0] == "snapshot"
    topic = device_topic("will-site", "entrance", Channel.STATUS)
    publisher(topic, encode_status(Status(v=1, online=True, ts=datetime.now(UTC))))
    publisher(topic, encode_status(Status(v=1, online=False)))
    seen = []
    for name, document in stream:
        if name == "update":
            seen += [part["device"]["online"] for part in document["sections"]]
            if seen[-1] is False:
                break
    stream.close()
    assert seen[-1] is False
    health = dashboard.client().get(f"{dashboard.url}/api/health", timeout=10).json()
    assert health["broker_connected"] is True
    assert "will-site" in health["sites"]


def test_garbage_on_the_broker_is_skipped_and_the_dashboard_keeps_serving(
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
) -> None:
    dashboard = start_dashboard(influx_database)
    publisher("canteen/junk-site/pi-1/telemetry", b"{not json")
    publisher("canteen/junk-site/pi-1/status", b'{"v":2,"online":true}')
    now = datetime.now(UTC)
    publisher(
        "canteen/junk-site/pi-1/telemetry",
        encode_telemetry(2, now, [TemperatureReading(sensor="fridge-1", ts=now, celsius=2.0)]),
    )
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while datetime.now(UTC) < deadline:
        picture = (
            dashboard.client().get(f"{dashboard.url}/api/sites/junk-site/now", timeout=10).json()
        )
        if picture["cold"]:
            break
    assert picture["cold"][0]["celsius"] == 2.0
    assert (
        dashboard.client().get(f"{dashboard.url}/api/health", timeout=10).json()["broker_rejected"]
        == 2
    )


def test_pages_and_api_are_where_the_readme_says(
    start_dashboard: Callable[..., RunningDashboard], influx_database: str
) -> None:
    dashboard = start_dashboard(influx_database, default_site="site-q", language="zh-CN")
    home = dashboard.client().get(dashboard.url, timeout=10, follow_redirects=True)
    assert home.status_code == 200
    assert str(home.url).endswith("/wall/site-q")
    assert '<html lang="zh-CN" data-site="site-q">' in home.text
    english = dashboard.client().get(f"{dashboard.url}/wall/site-q?lang=en", timeout=10).text
    assert '<html lang="en"' in english
    assert dashboard.client().get(f"{dashboard.url}/wall/Bad_Site", timeout=10).status_code == 422
    assert dashboard.client().get(
        f"{dashboard.url}/api/sites/..%2Fx/now", timeout=10
    ).status_code in (404, 422)
    paths = dashboard.client().get(f"{dashboard.url}/openapi.json", timeout=10).json()["paths"]
    assert {"/api/sites", "/api/sites/{site}/now", "/api/sites/{site}/stream"} <= set(paths)
    sites = dashboard.client().get(f"{dashboard.url}/api/sites", timeout=10).json()
    assert sites["default"] == "site-q"
