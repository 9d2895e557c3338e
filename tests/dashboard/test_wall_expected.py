"""The wall screen's dining room against what is expected: a usual day's curve, the forecast."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from canteen.settings import InfluxSettings
from dashboard.expectations import expected_curve
from protocol import OccupancyReading
from protocol.storage import reading_point, to_lines
from tests.dashboard.conftest import RunningDashboard
from timeseries import open_writer

SITE = "expected-site"
QUARTER = timedelta(minutes=15)


def test_the_expected_curve_averages_each_bucket_over_the_days_that_have_it() -> None:
    days = [{0: 10, 900_000: 20}, {0: 14}, {900_000: 30, 1_800_000: 4}]
    assert expected_curve(days) == ((0, 12), (900_000, 25), (1_800_000, 4))
    assert expected_curve([]) == ()


def _past_lunches(today: date) -> tuple[list[OccupancyReading], dict[int, int]]:
    """Four past same weekdays: 8 quarter-hours of lunch, 10 in each, present 10k + 2w."""
    readings, per_offset = [], {}
    for week in range(1, 5):
        midnight = datetime.combine(today - timedelta(weeks=week), time(), tzinfo=UTC)
        for k in range(8):
            at = midnight + timedelta(hours=11) + k * QUARTER
            readings.append(
                OccupancyReading(
                    sensor="dining-main", ts=at, entered=10, exited=0, present=10 * k + 2 * week
                )
            )
            offset = int((at - midnight).total_seconds() * 1000)
            per_offset.setdefault(offset, []).append(10 * k + 2 * week)
    expected = {offset: sum(v) // len(v) for offset, v in per_offset.items()}  # exact: +5 each
    return readings, expected


@pytest.mark.integration
@pytest.mark.browser
def test_the_wall_shows_a_usual_day_and_the_forecast_of_todays_diners(
    chromium: Browser,
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    v1_influx: InfluxSettings,
    tmp_path: Path,
) -> None:
    today = datetime.now(UTC).date()
    readings, expected = _past_lunches(today)
    writer = open_writer(v1_influx, "v1")
    writer.write(to_lines(reading_point(SITE, "entrance", r) for r in readings))
    writer.close()

    dashboard = start_dashboard(influx_database, default_site=SITE)
    picture = dashboard.client().get(f"/api/sites/{SITE}/now").json()
    midnight_ms = picture["day_start_ms"]
    assert {at - midnight_ms: present for at, present in picture["expected"]["curve"]} == expected
    # Lunch is the only meal with history: 8 quarter-hours of 10 diners, every week the same.
    assert picture["expected"]["diners"] == 80

    page = chromium.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(dashboard.kiosk_url())
    expect(page.locator("#expected-diners")).to_contain_text("80 expected", timeout=15_000)
    points = page.locator("#dining-curve .expected").get_attribute("points") or ""
    assert len(points.split()) == len(expected), "the dashed line has a point per bucket"
    folder = Path(os.environ.get("CANTEEN_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "wall-expected.png"))
    page.close()
