"""The screens connected to the dashboard, and the live state they are drawn from.

Runs on the web server's event loop: the broker thread hands the parsed messages over
in batches (`dashboard.mqtt_feed.LoopHandoff`), so the live state has one writer and
needs no lock. Each
connected screen keeps a set of changed sections; when it is slower than the updates,
they merge, so a busy kitchen never builds a queue behind a slow TV.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from canteen.cold_units import UnitKind, guess_kind
from dashboard.expectations import REFRESH_S, Expectation, read_expectation
from dashboard.history import load_site
from dashboard.live import LiveState, Section
from dashboard.sections import section, snapshot
from dashboard.settings import DashboardSettings
from protocol import Status, Telemetry, epoch_ms
from reports.menu import MenuStore
from timeseries import InfluxError, InfluxQL

logger = logging.getLogger(__name__)

HISTORY_RETRY_S = 30.0


@dataclass(eq=False)
class Screen:
    """One connected wall screen: which site it shows and what changed since it drew."""

    site: str
    changed: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self) -> set[str]:
        """The sections changed since the last call."""
        self.wake.clear()
        changed, self.changed = self.changed, set()
        return changed


class Screens:
    """Live state, history loading and the set of connected screens."""

    def __init__(self, settings: DashboardSettings, influx: InfluxQL | None) -> None:
        self.settings = settings
        self.state = LiveState(
            settings.tz(), self.kind_of, int(settings.sparkline_hours * 3_600_000)
        )
        self._influx = influx
        self._screens: set[Screen] = set()
        self._history_loaded: dict[str, bool] = {}
        self._history_tried: dict[str, float] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self.alert_list: Callable[[str], list[dict[str, Any]]] = lambda _site: []
        """A site's unresolved alerts (set when the alert service runs)."""
        self._expected: dict[str, Expectation] = {}
        self._expected_at: dict[str, float] = {}
        self.menu_store: Callable[[], MenuStore] | None = None
        """The hub's menu (set by the app: the same store the report pages use)."""

    def kind_of(self, sensor: str) -> UnitKind:
        """A probe's unit kind: from the settings, else from its name."""
        return self.settings.cold_units.get(sensor) or guess_kind(sensor)

    def history_loaded(self, site: str) -> bool:
        """Whether the site's stored history could be read."""
        return self._history_loaded.get(site, False)

    async def ensure_history(self, site: str) -> None:
        """Read a site's stored history once (and again later if InfluxDB was down)."""
        if self._history_loaded.get(site) or self._influx is None:
            return
        lock = self._loading.setdefault(site, asyncio.Lock())
        async with lock:
            tried = self._history_tried.get(site)
            if self._history_loaded.get(site) or (
                tried is not None and time.monotonic() - tried < HISTORY_RETRY_S
            ):
                return
            self._history_tried[site] = time.monotonic()
            influx = self._influx
            try:
                await asyncio.to_thread(
                    load_site,
                    influx,
                    self.state,
                    site,
                    datetime.now(UTC),
                    self.settings.sparkline_hours,
                )
            except InfluxError as err:
                logger.warning("cannot read %s's history yet (live values only): %s", site, err)
                return
            self._history_loaded[site] = True

    async def ensure_expectation(self, site: str) -> None:
        """Read (at most every half hour) what today's dining room is expected to do."""
        last = self._expected_at.get(site)
        if (
            self._influx is None
            or self.menu_store is None
            or (last is not None and time.monotonic() - last < REFRESH_S)
        ):
            return
        self._expected_at[site] = time.monotonic()
        try:
            expected = await asyncio.to_thread(
                read_expectation,
                self._influx,
                self.menu_store(),
                site,
                datetime.now(UTC),
                self.settings.tz(),
            )
        except InfluxError as err:
            logger.warning("cannot read %s's expected dining yet: %s", site, err)
            return
        except Exception:  # a background read: the screen goes on without an expectation
            logger.exception("cannot compute %s's expected dining", site)
            return
        if expected != self._expected.get(site):
            self._expected[site] = expected
            self._notify(site, {"expected"})

    def sites_on_screen(self) -> set[str]:
        """The sites some screen shows now."""
        return {screen.site for screen in self._screens}

    def _expected_json(self, site: str, now: datetime) -> Section:
        expected = self._expected.get(site, Expectation())
        start = self.state.day_start_ms(now)
        return {
            "curve": [[start + offset, present] for offset, present in expected.curve],
            "diners": expected.diners,
        }

    def connect(self, site: str) -> Screen:
        """Register a screen for a site's updates."""
        screen = Screen(site)
        self._screens.add(screen)
        return screen

    def disconnect(self, screen: Screen) -> None:
        """Forget a screen that went away."""
        self._screens.discard(screen)

    @property
    def connected(self) -> int:
        """How many screens are connected."""
        return len(self._screens)

    def _notify(self, site: str, changed: set[str]) -> None:
        if not changed:
            return
        for screen in self._screens:
            if screen.site == site:
                screen.changed |= changed
                screen.wake.set()

    def take_telemetry(self, telemetry: Telemetry) -> None:
        """A device's accepted readings."""
        topic = telemetry.topic
        self._notify(
            topic.site, self.state.apply_readings(topic.site, topic.device, telemetry.readings)
        )

    def take_status(self, site: str, device: str, status: Status, received_ms: int) -> None:
        """A device's status message."""
        self._notify(site, self.state.apply_status(site, device, status, received_ms))

    def alerts_changed(self, site: str) -> None:
        """An alert of a site was opened, acknowledged or resolved."""
        self._notify(site, {"alerts"})

    def section(self, site: str, key: str) -> Section | None:
        """One changed section of a site, as a screen applies it."""
        if key == "alerts":
            return {"alerts": self.alert_list(site)}
        if key == "expected":  # sent when it changes, not with every dining update
            return {"expected": self._expected_json(site, datetime.now(UTC))}
        return section(self.state.site(site), key, self.settings)

    def snapshot(self, site: str, now: datetime) -> dict[str, Any]:
        """A site's whole picture."""
        picture = snapshot(
            self.state.site(site), self.settings, epoch_ms(now), self.state.day_start_ms(now)
        )
        picture["expected"] = self._expected_json(site, now)
        picture["alerts"] = self.alert_list(site)
        picture["history_loaded"] = self.history_loaded(site)
        return picture

    def roll_day(self, now: datetime) -> None:
        """At the kitchen's midnight, clear the day's totals on every screen."""
        for site in self.state.roll_day(now):
            self._notify(site, {"dining", "waste"})
