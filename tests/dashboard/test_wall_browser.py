"""The wall screen in headless Chromium: live values without a reload, both languages."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from protocol import (
    Channel,
    DoorReading,
    TemperatureReading,
    WasteReading,
    device_topic,
    encode_telemetry,
)
from tests.dashboard.conftest import RunningDashboard

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Publish = Callable[..., None]
_seq = iter(range(1, 1_000_000))


def _send(publish: Publish, site: str, device: str, *readings: object) -> None:
    publish(
        device_topic(site, device, Channel.TELEMETRY),
        encode_telemetry(next(_seq), datetime.now(UTC), list(readings)),  # type: ignore[arg-type]
    )


def _fridge(celsius: float, sensor: str = "fridge-1") -> TemperatureReading:
    return TemperatureReading(sensor=sensor, ts=datetime.now(UTC), celsius=celsius)


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"the page raised JavaScript errors: {errors}"


def _screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("CANTEEN_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path))
    return path


def test_the_wall_screen_shows_a_new_value_without_reloading(
    page: Page,
    tmp_path: Path,
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
) -> None:
    site = "wall-site"
    dashboard = start_dashboard(influx_database, default_site=site)
    _send(publisher, site, "cold-room", _fridge(3.0), _fridge(-18.2, "freezer-1"))
    page.goto(dashboard.kiosk_url())
    tile = page.locator('.tile[data-key="cold-room/fridge-1"]')
    expect(tile.locator(".celsius")).to_have_text("3.0", timeout=15_000)
    expect(tile).to_have_class("tile state-ok")
    expect(page.locator("#link")).to_have_text("Live")
    page.evaluate("window.notReloaded = true")

    _send(
        publisher,
        site,
        "cold-room",
        _fridge(9.4),
        DoorReading(sensor="fridge-1", ts=datetime.now(UTC), open=True),
    )
    _send(
        publisher,
        site,
        "waste-station",
        WasteReading(sensor="bin-1", ts=datetime.now(UTC), grams=1250, category="plate"),
    )
    expect(tile.locator(".celsius")).to_have_text("9.4", timeout=10_000)
    expect(tile).to_have_class("tile state-critical")
    expect(tile.locator(".door")).to_have_text("Door open 0 min")
    expect(page.locator("#waste-total")).to_have_text("1.3")
    assert page.evaluate("window.notReloaded") is True
    shot = _screenshot(page, tmp_path, "wall-live.png")
    assert shot.stat().st_size > 10_000


def test_the_wall_screen_speaks_chinese_when_asked(
    page: Page,
    tmp_path: Path,
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
) -> None:
    site = "zh-site"
    dashboard = start_dashboard(influx_database, default_site=site, language="zh-CN")
    _send(publisher, site, "cold-room", _fridge(4.25))
    page.goto(dashboard.kiosk_url(site))
    expect(page.locator("#cold-title")).to_have_text("冷藏与冷冻")
    expect(page.locator(".tile .kind")).to_have_text("冷藏柜", timeout=15_000)
    expect(page.locator("#dining-title")).to_have_text("餐厅")
    expect(page.locator('.categories li[data-category="prep"] .cat')).to_have_text("备餐损耗")
    untranslated = page.evaluate(
        """() => [...document.querySelectorAll('[data-i18n]')]
              .filter((node) => !window.CANTEEN_STRINGS['zh-CN'][node.dataset.i18n])
              .map((node) => node.dataset.i18n)"""
    )
    assert untranslated == []
    english_keys, chinese_keys = page.evaluate(
        "[Object.keys(CANTEEN_STRINGS.en), Object.keys(CANTEEN_STRINGS['zh-CN'])]"
    )
    assert english_keys == chinese_keys
    _screenshot(page, tmp_path, "wall-zh.png")


def test_the_wall_screen_reconnects_by_itself_after_a_dashboard_restart(
    page: Page,
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
) -> None:
    site = "restart-site"
    dashboard = start_dashboard(influx_database, default_site=site)
    _send(publisher, site, "cold-room", _fridge(2.5))
    page.goto(dashboard.kiosk_url())
    celsius = page.locator('.tile[data-key="cold-room/fridge-1"] .celsius')
    expect(celsius).to_have_text("2.5", timeout=15_000)
    page.evaluate("window.notReloaded = true")

    restarted = dashboard.restarted()
    try:
        _send(publisher, site, "cold-room", _fridge(3.75))
        expect(page.locator("#link")).to_have_text("Live", timeout=20_000)
        # Published while the screen was away or just back: it arrives by snapshot or update.
        _send(publisher, site, "cold-room", _fridge(4.5))
        expect(celsius).to_have_text("4.5", timeout=20_000)
        assert page.evaluate("window.notReloaded") is True
    finally:
        restarted.stop()
