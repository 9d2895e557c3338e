"""The menu page with its Bins section in Chromium, in both languages."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from canteen.settings import InfluxSettings
from dashboard.report_text import words
from tests.dashboard.conftest import RunningDashboard
from tests.reports.test_menu_serving import menu_dashboard

SITE = "menu-shot"
PREP_BIN = f"waste,site={SITE},device=bin-line,sensor=bin-prep,category=prep grams=90 2"

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_menu_page_lists_each_bin_with_its_category_control(
    language: str,
    tmp_path: Path,
    v1_influx: InfluxSettings,
    start_dashboard: Callable[..., RunningDashboard],
    chromium: Browser,
) -> None:
    dashboard = menu_dashboard(tmp_path, v1_influx, start_dashboard, SITE, (PREP_BIN,))
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale=language)
    dashboard.sign_in(context, "manager")
    page = context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{dashboard.url}/menu/{SITE}?lang={language}")
    text = page.inner_text("body")
    for sensor in ("bin-plate", "bin-prep"):  # both bins seen in the history, one row each
        assert sensor in text
    t = words(language)
    assert t["bins"] in text
    assert page.locator("select[name='category']").count() >= 2
    folder = Path(os.environ.get("CANTEEN_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"menu-{language}.png"), full_page=True)
    context.close()
    assert errors == []
