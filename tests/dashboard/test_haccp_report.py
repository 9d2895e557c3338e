"""The HACCP log end to end: generated readings in the real InfluxDB, alerts in the store,
the real dashboard's JSON, CSV and printable page checked against figures computed here.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from alerts.store import AlertStore
from canteen.settings import InfluxSettings
from tests.dashboard.conftest import RunningDashboard
from tests.dashboard.haccp_kitchen import (
    ACTION,
    CHECKS,
    SITE,
    TZ,
    UNITS,
    ZONE,
    Kitchen,
    duration_text,
)
from timeseries import V1LineWriter

pytestmark = pytest.mark.integration
CLOSE = 0.005 + 1e-9
"""How near a CSV figure (two decimals) must be; the page's (one decimal): ten times that."""


@pytest.fixture
def served(
    tmp_path: Path, v1_influx: InfluxSettings, start_dashboard: Callable[..., RunningDashboard]
) -> tuple[Kitchen, RunningDashboard]:
    """The generated kitchen in InfluxDB and the alert store, and a dashboard serving it."""
    plan = Kitchen.generated(datetime.now(TZ).date())
    assert [e.sensor for e in plan.excursions] == ["fridge-2", "freezer-1"], "the plan's"
    writer = V1LineWriter(v1_influx)
    writer.write(plan.lines())
    writer.close()
    store = AlertStore(tmp_path / "hub" / "alerts.sqlite3")
    plan.record_alerts(store)
    store.close()
    dashboard = start_dashboard(
        v1_influx.database,
        timezone=ZONE,
        default_site=SITE,
        state_dir=tmp_path / "hub",
        haccp_check_times=[c.strftime("%H:%M") for c in CHECKS],
    )
    return replace(plan, url=dashboard.url), dashboard


@pytest.fixture
def kitchen(served: tuple[Kitchen, RunningDashboard]) -> Kitchen:
    return served[0]


@pytest.fixture
def manager(served: tuple[Kitchen, RunningDashboard]) -> httpx.Client:
    """Signed in as a manager: the HACCP log needs that role."""
    return served[1].client("manager")


def test_the_json_log_matches_the_generated_readings_and_alerts(
    kitchen: Kitchen, manager: httpx.Client
) -> None:
    response = manager.get(f"{kitchen.url}/api/sites/{SITE}/haccp?{kitchen.query()}")
    response.raise_for_status()
    log = response.json()
    assert (log["start"], log["end"], log["timezone"]) == (*map(str, kitchen.days), ZONE)
    assert log["check_times"] == ["08:00", "14:00", "19:30"]
    assert [u["sensor"] for u in log["units"]] == sorted(UNITS)
    assert [d["date"] for d in log["days"]] == [str(d) for d in kitchen.days]
    shown = {(d["date"], u["sensor"]): u for d in log["days"] for u in d["units"]}
    for day, sensor in kitchen.unit_days():
        row, values = shown[(str(day), sensor)], kitchen.values(day, sensor)
        assert row["readings"] == len(values) > 500
        assert (row["min_c"], row["max_c"]) == (min(values), max(values))
        assert row["mean_c"] == pytest.approx(sum(values) / len(values), abs=1e-9)
        for check, expected in zip(row["checks"], CHECKS, strict=True):
            point = kitchen.at_check(day, expected, sensor)
            assert check["time"] == expected.strftime("%H:%M")
            if point is None:
                assert (check["status"], check["celsius"]) == ("missing", None)
            else:
                assert (check["status"], check["celsius"]) == ("ok", point.celsius)
                assert datetime.fromisoformat(check["reading_at"]) == point.at
        want = kitchen.touching(day, sensor)
        assert [datetime.fromisoformat(e["since"]) for e in row["excursions"]] == [
            e.since for e in want
        ]
        for got, excursion in zip(row["excursions"], want, strict=True):
            seconds = (excursion.cleared - excursion.since).total_seconds()
            assert got["duration_minutes"] == round(seconds / 60, 1)
            assert datetime.fromisoformat(got["cleared_at"]) == excursion.cleared
            assert got["ongoing"] is False and got["kind"] == "temperature"
            assert got["acknowledged_by"] == ("王芳" if sensor == "fridge-2" else "Li Wei")
            assert got["corrective_action"] == (ACTION if sensor == "fridge-2" else None)
    day2 = kitchen.days[1]
    assert shown[(str(day2), "fridge-1")]["checks"][0]["status"] == "missing", "the unplugged probe"
    assert shown[(str(kitchen.days[0]), "fridge-2")]["checks"][1]["celsius"] == 4.25
    assert len(shown[(str(day2), "freezer-1")]["excursions"]) == 1, "over midnight: on both days"


def test_the_csv_has_one_row_per_unit_and_day_with_the_same_figures(
    kitchen: Kitchen, manager: httpx.Client
) -> None:
    response = manager.get(f"{kitchen.url}/haccp/{SITE}.csv?{kitchen.query()}")
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        f"haccp-{SITE}-{kitchen.days[0]}-{kitchen.days[1]}.csv"
        in response.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["date"], r["unit"]) for r in rows] == [(str(d), s) for d, s in kitchen.unit_days()]
    for row, (day, sensor) in zip(rows, kitchen.unit_days(), strict=True):
        values = kitchen.values(day, sensor)
        assert int(row["readings"]) == len(values)
        for column, expected in (("min_c", min(values)), ("max_c", max(values))):
            assert abs(float(row[column]) - expected) <= CLOSE
        assert abs(float(row["mean_c"]) - sum(values) / len(values)) <= CLOSE
        for check in CHECKS:
            point, hhmm = kitchen.at_check(day, check, sensor), check.strftime("%H%M")
            if point is None:
                assert (row[f"check_{hhmm}_c"], row[f"check_{hhmm}_at"]) == ("", "no reading")
            else:
                assert abs(float(row[f"check_{hhmm}_c"]) - point.celsius) <= CLOSE
                assert row[f"check_{hhmm}_at"] == point.at.astimezone(TZ).strftime("%H:%M:%S")
        want = kitchen.touching(day, sensor)
        assert int(row["excursions"]) == len(want)
        for excursion in want:
            assert f"({duration_text(excursion.minutes)})" in row["excursion_details"]
    lunch = next(r for r in rows if (r["date"], r["unit"]) == (str(kitchen.days[0]), "fridge-2"))
    assert "acknowledged by 王芳" in lunch["excursion_details"]
    assert f"corrective action: {ACTION}" in lunch["excursion_details"]


class Cells(HTMLParser):
    """The page's figures: (day, unit, field) → the cell's text."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str], str] = {}
        self._day = self._unit = self._field = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self._day = found.get("data-day") or self._day
        self._unit = found.get("data-unit") or self._unit
        if tag == "td" and found.get("data-field"):
            self._field = str(found["data-field"])
            self.cells[(self._day, self._unit, self._field)] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._field = ""

    def handle_data(self, data: str) -> None:
        if self._field:
            key = (self._day, self._unit, self._field)
            self.cells[key] = " ".join(f"{self.cells[key]} {data}".split())


def test_the_printable_page_shows_the_same_figures(kitchen: Kitchen, manager: httpx.Client) -> None:
    response = manager.get(f"{kitchen.url}/haccp/{SITE}?{kitchen.query()}")
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/html")
    page = Cells()
    page.feed(response.text)
    assert "@media print" in response.text and "<script" not in response.text
    for day, sensor in kitchen.unit_days():
        values = kitchen.values(day, sensor)

        def shown(field: str, d: date = day, s: str = sensor) -> str:
            return page.cells[(str(d), s, field)]

        for field, expected in (("min", min(values)), ("max", max(values))):
            assert abs(float(shown(field).split()[0]) - expected) <= 10 * CLOSE
        assert abs(float(shown("mean").split()[0]) - sum(values) / len(values)) <= 10 * CLOSE
        assert shown("readings") == str(len(values))
        for check in CHECKS:
            point, text = kitchen.at_check(day, check, sensor), shown(f"check-{check:%H%M}")
            if point is None:
                assert text == "no reading"
            else:
                assert abs(float(text.split()[0]) - point.celsius) <= 10 * CLOSE
                assert text.endswith(point.at.astimezone(TZ).strftime("%H:%M"))
        for excursion in kitchen.touching(day, sensor):
            assert f"({duration_text(excursion.minutes)})" in shown("excursions")
        if not kitchen.touching(day, sensor):
            assert shown("excursions") == "none"
    lunch = page.cells[(str(kitchen.days[0]), "fridge-2", "excursions")]
    assert (
        "acknowledged by 王芳" in lunch
        and ACTION in lunch
        and "▲▲" in page.cells[(str(kitchen.days[0]), "fridge-2", "max")]
    )
    chinese = manager.get(f"{kitchen.url}/haccp/{SITE}?{kitchen.query()}&lang=zh-CN")
    assert "HACCP 温度记录" in chinese.text and "王芳 于" in chinese.text


def test_dates_are_checked_and_default_to_the_last_seven_days(
    kitchen: Kitchen, manager: httpx.Client
) -> None:
    url = kitchen.url
    for query, words in (
        ("start=2026-13-01", "start: '2026-13-01' is not a date"),
        ("end=20261123", "end: '20261123' is not a date"),
        (f"start={kitchen.days[1]}&end={kitchen.days[0]}", "is before the start"),
        ("start=2024-01-01&end=2025-12-31", "at most 366 days"),
    ):
        for path in (f"/api/sites/{SITE}/haccp", f"/haccp/{SITE}", f"/haccp/{SITE}.csv"):
            response = manager.get(f"{url}{path}?{query}")
            assert response.status_code == 422, (path, query)
            assert words in response.json()["detail"]
    log = manager.get(f"{url}/api/sites/{SITE}/haccp").json()
    today = datetime.now(TZ).date()
    assert [d["date"] for d in log["days"]] == [
        str(today - timedelta(days=n)) for n in range(6, -1, -1)
    ]
    assert manager.get(f"{url}/haccp/NOT_A_SITE").status_code == 422


@pytest.mark.browser
def test_the_printable_page_in_chromium(
    kitchen: Kitchen, served: tuple[Kitchen, RunningDashboard], chromium: Browser, tmp_path: Path
) -> None:
    folder = Path(os.environ.get("CANTEEN_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    served[1].sign_in(context, "manager")
    page = context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{kitchen.url}/haccp/{SITE}?{kitchen.query()}")
    page.emulate_media(media="print")
    assert page.locator("form.controls").is_hidden(), "the date form is not printed"
    assert page.locator("section.day").count() == 2
    page.screenshot(path=str(folder / "haccp.png"), full_page=True)
    pdf = page.pdf(path=str(tmp_path / "haccp.pdf"), landscape=True, prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")
    context.close()
    assert errors == []
