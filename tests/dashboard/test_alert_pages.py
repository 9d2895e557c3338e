"""Alerts end to end on the hub: MQTT excursion → notification with a signed link → phone page.

Real broker, real InfluxDB, real dashboard with its alert service, notifications delivered
by Apprise to a local HTTP endpoint; the wall screen and the phone page in Chromium.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from alerts import links
from alerts.policy import UnitPolicy
from alerts.settings import AlertSettings
from canteen.settings import InfluxSettings
from protocol import Channel, TemperatureReading, device_topic, encode_telemetry
from tests.dashboard.conftest import RunningDashboard
from tests.notify_endpoint import NotificationEndpoint
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

Publish = Callable[..., None]
_seq = iter(range(1, 1_000_000))
LINK = re.compile(r"/a/[A-Za-z0-9_.\-]+")


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CANTEEN_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def endpoint() -> Iterator[NotificationEndpoint]:
    server = NotificationEndpoint().start()
    yield server
    server.close()


def _alert_settings(endpoint: NotificationEndpoint, **overrides: Any) -> AlertSettings:
    fast = UnitPolicy(
        warning_c=5.0,
        warning_delay=timedelta(seconds=1),
        critical_c=8.0,
        critical_delay=timedelta(seconds=1),
    )
    values: dict[str, Any] = {
        "channels": {"*": {"duty": [endpoint.url("duty")], "manager": [endpoint.url("manager")]}},
        "units": {"fridge-1": fast},
        "tick_s": 0.2,
        **overrides,
    }
    return AlertSettings(**values)


def _fridge(publish: Publish, site: str, celsius: float) -> None:
    reading = TemperatureReading(sensor="fridge-1", ts=datetime.now(UTC), celsius=celsius)
    publish(
        device_topic(site, "cold-room", Channel.TELEMETRY),
        encode_telemetry(next(_seq), datetime.now(UTC), [reading]),
    )


def _live(dashboard: RunningDashboard, site: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = (
        dashboard.client().get(f"{dashboard.url}/api/sites/{site}/alerts").json()["alerts"]
    )
    return alerts


def _raise_excursion(
    publish: Publish, dashboard: RunningDashboard, endpoint: NotificationEndpoint, site: str
) -> tuple[dict[str, Any], str]:
    """Keep a fridge at 9 °C until the alert is open and its notification came; both back."""

    def alerted() -> list[dict[str, Any]]:
        _fridge(publish, site, 9.0)
        return [a for a in _live(dashboard, site) if a["severity"] == "critical"]

    alert = wait_until(alerted, timeout=20, interval=0.3, message="a critical alert")[0]
    message = wait_until(lambda: endpoint.received("duty"), message="the duty notification")[0]
    found = LINK.search(message["message"])
    assert found, f"no acknowledgement link in {message!r}"
    return alert, found.group(0)


def test_an_alert_is_acknowledged_and_closed_from_its_signed_link(
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
    endpoint: NotificationEndpoint,
) -> None:
    site = "alert-link-site"
    dashboard = start_dashboard(
        influx_database, default_site=site, alerts=_alert_settings(endpoint)
    )
    alert, link = _raise_excursion(publisher, dashboard, endpoint, site)
    message = endpoint.received("duty")[0]
    assert "fridge-1" in message["message"]
    assert "9.0 °C" in message["message"]

    page = httpx.get(dashboard.url + link)
    assert page.status_code == 200
    assert "fridge-1" in page.text

    token = link.removeprefix("/a/")
    alert_id, expires, signature = token.split(".")
    forged = f"{int(alert_id) + 1}.{expires}.{signature}"
    assert httpx.get(f"{dashboard.url}/a/{forged}").status_code == 403
    key = (dashboard.settings.state_dir / "secret.key").read_text().strip().encode()
    expired = links.sign(key, int(alert_id), datetime.now(UTC) - timedelta(seconds=1))
    assert httpx.get(f"{dashboard.url}/a/{expired}").status_code == 403
    refused = httpx.post(f"{dashboard.url}/a/{forged}/acknowledge", data={"who": "Mallory"})
    assert refused.status_code == 403

    with dashboard.client() as phone:
        done = phone.post(f"{link}/acknowledge", data={"who": "Li Wei"})
        assert done.status_code == 303
        assert phone.cookies.get("canteen_name") is not None
        record = phone.get(f"/api/alerts/{alert['id']}").json()
        assert (record["state"], record["acknowledged_by"]) == ("acknowledged", "Li Wei")
        assert "Li Wei" in phone.get(link).text  # the name is remembered for the next tap

        closing = phone.post(f"{link}/close", data={"who": "Li Wei"})
        assert closing.status_code == 409, "a critical alert closed without a corrective action"

        def cleared() -> bool:
            _fridge(publisher, site, 3.0)
            return bool(phone.get(f"/api/alerts/{alert['id']}").json()["cleared_at"])

        wait_until(cleared, timeout=15, interval=0.3, message="the excursion to clear")
        assert phone.get(f"/api/alerts/{alert['id']}").json()["state"] == "acknowledged"
        phone.post(f"{link}/action", data={"who": "Li Wei", "text": "Moved stock to fridge 2"})
        record = phone.get(f"/api/alerts/{alert['id']}").json()
    assert record["state"] == "resolved"
    assert record["corrective_action"] == "Moved stock to fridge 2"
    actions = [row["action"] for row in record["audit"]]
    assert actions == [
        "opened",
        "acknowledged",
        "back to normal",
        "corrective action",
        "resolved",
    ]
    assert _live(dashboard, site) == []
    wait_until(
        lambda: any("RESOLVED" in m["title"] for m in endpoint.received("duty")),
        message="the resolution notice",
    )
    assert (
        len([m for m in endpoint.received("duty") if m["title"].startswith(f"[{site}] ALERT")]) == 1
    )


@pytest.mark.browser
def test_the_wall_screen_shows_the_alert_and_the_phone_page_acknowledges_it(
    chromium: Browser,
    start_ingest: Callable[..., Any],
    v1_influx: InfluxSettings,
    tmp_path: Path,
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
    endpoint: NotificationEndpoint,
) -> None:
    site = "alert-wall-site"
    start_ingest(v1_influx)  # the phone page charts the unit's readings from InfluxDB
    dashboard = start_dashboard(
        influx_database, default_site=site, alerts=_alert_settings(endpoint)
    )
    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    wall = context.new_page()
    wall.goto(dashboard.kiosk_url())
    expect(wall.locator("#link")).to_have_text("Live", timeout=15_000)
    expect(wall.locator("#alert-banner")).to_be_hidden()

    alert, link = _raise_excursion(publisher, dashboard, endpoint, site)
    banner = wall.locator("#alert-banner")
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner.locator(f'li[data-alert="{alert["id"]}"]')).to_contain_text("fridge-1")
    tile = wall.locator('.tile[data-key="cold-room/fridge-1"]')
    expect(tile).to_have_class(re.compile(r"\balerted\b"))
    expect(tile.locator(".alert-note")).to_contain_text("CRITICAL")
    wall.screenshot(path=str(_shots(tmp_path) / "wall-alert.png"))

    phone = chromium.new_context(viewport={"width": 390, "height": 844}).new_page()
    phone.goto(dashboard.url + link)
    expect(phone.locator("h1.what")).to_have_text("fridge-1")
    phone.fill('form[action*="acknowledge"] input[name="who"]', "Chen")
    phone.click("#acknowledge")
    expect(phone.locator("article[data-state]")).to_have_attribute("data-state", "acknowledged")
    expect(phone.locator(".chart polyline")).to_have_attribute("points", re.compile(r"\d"))
    phone.screenshot(path=str(_shots(tmp_path) / "phone-alert.png"), full_page=True)
    expect(banner.locator(f'li[data-alert="{alert["id"]}"]')).to_contain_text("acknowledged")
    context.close()


@pytest.mark.browser
def test_the_wall_screen_says_when_an_alert_could_not_be_notified(
    chromium: Browser,
    start_dashboard: Callable[..., RunningDashboard],
    influx_database: str,
    publisher: Publish,
    endpoint: NotificationEndpoint,
) -> None:
    site = "alert-undelivered-site"
    endpoint.failures = 1_000  # the notification service is down
    settings = _alert_settings(endpoint, max_attempts=1)
    dashboard = start_dashboard(influx_database, default_site=site, alerts=settings)
    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    wall = context.new_page()
    wall.goto(dashboard.kiosk_url())
    expect(wall.locator("#link")).to_have_text("Live", timeout=15_000)

    def alerted() -> list[dict[str, Any]]:
        _fridge(publisher, site, 11.0)
        return _live(dashboard, site)

    alert = wait_until(alerted, timeout=20, interval=0.3, message="an alert")[0]
    record = wait_until(
        lambda: (
            dashboard.client().get(f"{dashboard.url}/api/alerts/{alert['id']}").json()["delivery"]
            == "failed"
        ),
        message="the delivery to fail",
    )
    assert record
    item = wall.locator(f'#alert-banner li[data-alert="{alert["id"]}"]')
    expect(item.locator(".undelivered")).to_have_text("notification not delivered")
    context.close()
