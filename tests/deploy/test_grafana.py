"""The Grafana provisioning files, and every panel's InfluxQL against a real InfluxDB 1.6.7.

Points are written the way the ingest writes them (PROTOCOL.md's storage mapping through
`protocol.storage`); Grafana's macros are replaced by concrete values, as Grafana would.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import SecretStr

from canteen.settings import InfluxSettings
from protocol.models import (
    OccupancyReading,
    Reading,
    Status,
    TemperatureReading,
    WasteCategory,
    WasteReading,
)
from protocol.storage import reading_point, status_point, to_lines
from tests.deploy.files import GRAFANA
from timeseries import InfluxQL, open_writer

DASHBOARD = GRAFANA / "dashboards" / "canteen.json"
SITE = "grafana-site"
OTHER_SITE = "grafana-other"
NOW = datetime.now(UTC).replace(microsecond=0)
KITCHEN_TZ = "Asia/Shanghai"


def _yaml(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((GRAFANA / relative).read_text(encoding="utf-8"))
    return document


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def _panel_queries() -> dict[str, str]:
    return {
        panel["title"]: target["query"]
        for panel in _dashboard()["panels"]
        for target in panel["targets"]
    }


def test_the_data_source_is_influxql_on_database_canteen() -> None:
    datasources = _yaml("provisioning/datasources/canteen.yaml")["datasources"]
    assert len(datasources) == 1
    source = datasources[0]
    assert source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["dbName"] == "canteen"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token ${CANTEEN_INFLUX_TOKEN}"
    uids = {p["datasource"]["uid"] for p in _dashboard()["panels"]}
    assert uids == {source["uid"]}


def test_the_dashboard_provider_points_at_a_folder() -> None:
    providers = _yaml("provisioning/dashboards/canteen.yaml")["providers"]
    assert [p["type"] for p in providers] == ["file"]
    assert providers[0]["options"]["path"].startswith("/")


def test_the_dashboard_has_the_panels_a_kitchen_needs() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "smart-canteen"
    titles = set(_panel_queries())
    assert {"Fridges", "Freezers", "Food waste per category per day", "Present now"} <= titles
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert target["rawQuery"] is True, panel["title"]


def _concrete(query: str, start: datetime, end: datetime, site: str = SITE) -> str:
    """What Grafana sends for a query: its macros and variables filled in."""
    time_filter = (
        f"time >= {int(start.timestamp() * 1000)}ms and time <= {int(end.timestamp() * 1000)}ms"
    )
    filled = (
        query.replace("$timeFilter", time_filter)
        .replace("$__interval", "1m")
        .replace("$site", re.escape(site))
        .replace("$tz", KITCHEN_TZ)
    )
    assert not re.search(r"\$\w", filled), f"a macro was left: {filled}"
    return filled


def _kitchen_time(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, ZoneInfo(KITCHEN_TZ))


def _at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def _kitchen_points() -> list[str]:
    readings: list[tuple[str, str, Reading]] = [
        (SITE, "cold-1", TemperatureReading(sensor="fridge-1", ts=_at(30), celsius=3.5)),
        (SITE, "cold-1", TemperatureReading(sensor="fridge-1", ts=_at(10), celsius=4.5)),
        (SITE, "cold-1", TemperatureReading(sensor="freezer-1", ts=_at(10), celsius=-19.0)),
        (SITE, "cold-2", TemperatureReading(sensor="fridge-2", ts=_at(5), celsius=6.0)),
        (OTHER_SITE, "cold-1", TemperatureReading(sensor="fridge-1", ts=_at(5), celsius=30.0)),
        (SITE, "bin-1", WasteReading(sensor="bin", ts=_at(60), grams=1200.0, category="plate")),
        (SITE, "bin-1", WasteReading(sensor="bin", ts=_at(50), grams=300.0, category="plate")),
        (SITE, "bin-2", WasteReading(sensor="bin", ts=_at(40), grams=500.0, category="prep")),
        (
            SITE,
            "bin-1",
            WasteReading(sensor="bin", ts=NOW - timedelta(days=3), grams=800.0, category="plate"),
        ),
        (
            SITE,
            "door-1",
            OccupancyReading(sensor="entrance", ts=_at(20), entered=40, exited=0, present=40),
        ),
        (
            SITE,
            "door-1",
            OccupancyReading(sensor="entrance", ts=_at(2), entered=5, exited=12, present=33),
        ),
    ]
    points = [reading_point(site, device, reading) for site, device, reading in readings]
    status = Status(v=1, online=True, ts=_at(1), backlog=0, cpu_temp_c=48.5)
    points.append(status_point(SITE, "cold-1", status, _at(1)))
    return to_lines(points)


@pytest.fixture
def kitchen(v1_influx: InfluxSettings) -> InfluxQL:
    """A database with an hour of one kitchen's readings; InfluxQL with a Grafana-like token."""
    writer = open_writer(v1_influx, "v1")
    writer.write(_kitchen_points())
    writer.close()
    # Grafana sends `Authorization: Token ...`; a 1.x server without authentication ignores it.
    return InfluxQL(v1_influx.model_copy(update={"token": SecretStr("grafana")}))


def _series(kitchen: InfluxQL, title: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The panel's result: {(tag values...): [non-null rows]}."""
    result: dict[Any, Any] = {}
    for series in kitchen.query(_concrete(_panel_queries()[title], start, end)):
        key = tuple(sorted(series.tags.items())) if series.tags else ()
        values = [c for c in series.columns if c != "time"]
        rows = [row for row in series.rows() if any(row[c] is not None for c in values)]
        result[key] = rows
    return result


@pytest.mark.integration
def test_the_temperature_panels_split_fridges_from_freezers_per_sensor(kitchen: InfluxQL) -> None:
    fridges = _series(kitchen, "Fridges", _at(60), NOW)
    assert set(fridges) == {
        (("device", "cold-1"), ("sensor", "fridge-1")),
        (("device", "cold-2"), ("sensor", "fridge-2")),
    }
    fridge_1 = fridges[(("device", "cold-1"), ("sensor", "fridge-1"))]
    assert [row["mean"] for row in fridge_1] == [3.5, 4.5]  # the other site's 30 °C is not here
    freezers = _series(kitchen, "Freezers", _at(60), NOW)
    assert list(freezers) == [(("device", "cold-1"), ("sensor", "freezer-1"))]
    assert [row["mean"] for row in freezers[next(iter(freezers))]] == [-19.0]


@pytest.mark.integration
def test_the_waste_panel_sums_kilograms_per_category_per_kitchen_day(kitchen: InfluxQL) -> None:
    waste = _series(kitchen, "Food waste per category per day", NOW - timedelta(days=14), NOW)
    assert set(waste) == {(("category", "plate"),), (("category", "prep"),)}
    totals = {key[0][1]: [row["sum"] for row in rows if row["sum"]] for key, rows in waste.items()}
    # The drops of the last hour fall on one kitchen day unless midnight in Asia/Shanghai
    # came in between; three days ago is a day of its own.
    assert sum(totals["plate"]) == pytest.approx(2.3)
    assert totals["plate"][0] == pytest.approx(0.8)
    assert sum(totals["prep"]) == pytest.approx(0.5)
    days = [_kitchen_time(row["time"]) for row in waste[(("category", "plate"),)]]
    assert {(day.hour, day.minute) for day in days} == {(0, 0)}, days  # kitchen midnights


@pytest.mark.integration
def test_the_dining_room_panels_show_who_is_present(kitchen: InfluxQL) -> None:
    over_time = _series(kitchen, "Dining room: present", _at(30), NOW)
    rows = over_time[(("device", "door-1"), ("sensor", "entrance"))]
    assert rows[0]["last"] == 40
    assert rows[-1]["last"] == 33
    now = _series(kitchen, "Present now", _at(60), NOW)
    assert [row["last"] for row in now[(("device", "door-1"), ("sensor", "entrance"))]] == [33]


@pytest.mark.integration
def test_the_devices_table_shows_the_last_status(kitchen: InfluxQL) -> None:
    devices = _series(kitchen, "Devices", _at(60), NOW)
    row = devices[(("device", "cold-1"),)][0]
    assert (row["online"], row["backlog"], row["cpu_temp_c"]) == (True, 0, 48.5)


@pytest.mark.integration
def test_the_site_variable_lists_the_sites(kitchen: InfluxQL) -> None:
    variable = next(v for v in _dashboard()["templating"]["list"] if v["name"] == "site")
    values = {row["value"] for series in kitchen.query(variable["query"]) for row in series.rows()}
    assert {SITE, OTHER_SITE} <= values


def test_waste_categories_in_the_test_are_the_protocols() -> None:
    assert {"plate", "prep"} <= {category.value for category in WasteCategory}
