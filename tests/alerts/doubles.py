"""Doubles and helpers of the alert tests: senders, a notification endpoint, a fridge node."""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar, cast

from alerts.engine import AlertEngine
from alerts.kinds import AlertKey, AlertKind
from alerts.notify import NotifyError
from alerts.service import AlertService
from alerts.settings import AlertSettings
from protocol import (
    Channel,
    DoorReading,
    Reading,
    TemperatureReading,
    device_topic,
    encode_telemetry,
    format_ts,
    parse_ts,
)

T = TypeVar("T")

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
SECRET = b"0123456789abcdef0123456789abcdef"
FRIDGE = AlertKey("site-a", "node-1", "fridge-1", AlertKind.TEMPERATURE)


class RecordingSender:
    """A sender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[str], str, str]] = []

    def send(self, urls: list[str], title: str, body: str) -> None:
        self.sent.append((list(urls), title, body))


class FailingSender:
    """A sender whose every attempt fails, as an unreachable phone service does."""

    def __init__(self) -> None:
        self.attempts = 0

    def send(self, urls: list[str], title: str, body: str) -> None:
        self.attempts += 1
        raise NotifyError("HTTP 503 from the notification service")


def utc_midnight(now: datetime) -> datetime:
    """The day's start, in UTC (the tests' kitchen keeps UTC)."""
    return datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)


def channel_settings(**overrides: Any) -> AlertSettings:
    """Settings with a duty and a manager URL for site-a, and the given changes."""
    values: dict[str, Any] = {
        "public_url": "https://hub.example/",
        "channels": {
            "site-a": {"duty": ["json://duty.invalid/duty"], "manager": ["json://boss.invalid/m"]}
        },
        "max_attempts": 4,
        "first_retry": timedelta(seconds=30),
    }
    return AlertSettings(**(values | overrides))


class RunningAlerts:
    """A real alert service (Apprise sender, SQLite store) on the session's broker."""

    def __init__(self, service: AlertService) -> None:
        self.service = service
        self.store = service.store
        self.running = False

    def start(self) -> RunningAlerts:
        self.service.start()
        self.running = True
        assert self.service.subscribed.wait(10), "the alert service did not subscribe in 10 s"
        return self

    def stop(self) -> None:
        """Stop the service (the broker keeps its session) and close its store."""
        if self.running:
            self.running = False
            self.service.stop()
            self.store.close()

    def on_engine(self, action: Callable[[AlertEngine], T], timeout: float = 10) -> T:
        """Run something on the engine's thread, after what is queued before it; its result."""
        answer: queue.Queue[tuple[bool, Any]] = queue.Queue()

        def run(engine: AlertEngine) -> None:
            try:
                answer.put((True, action(engine)))
            except Exception as err:
                answer.put((False, err))

        self.service.submit(run)
        ok, value = answer.get(timeout=timeout)
        if not ok:
            raise value
        return cast(T, value)


StartAlerts = Callable[..., RunningAlerts]
"""`start_alerts(settings, client_id=..., db=...)`, the fixture."""


class FridgeNode:
    """A fridge node publishing its probe and door switch live, stamped with the time now."""

    def __init__(self, publish: Callable[[str, bytes], None], site: str, sensor: str) -> None:
        self.topic = device_topic(site, "node-1", Channel.TELEMETRY)
        self.site, self.device, self.sensor = site, "node-1", sensor
        self._publish = publish
        self._seq = itertools.count(1)
        self.first_ts: datetime | None = None
        self.last_ts: datetime | None = None

    def send(self, celsius: float, door_open: bool | None = None) -> datetime:
        """Publish one message: a temperature, and the door's state if given; its time."""
        now = datetime.now(UTC)
        readings: list[Reading] = [TemperatureReading(sensor=self.sensor, ts=now, celsius=celsius)]
        if door_open is not None:
            readings.append(DoorReading(sensor=self.sensor, ts=now, open=door_open))
        self._publish(self.topic, encode_telemetry(next(self._seq), now, readings))
        stamped = parse_ts(format_ts(now))  # as the hub reads it: milliseconds
        self.first_ts = self.first_ts or stamped
        self.last_ts = stamped
        return stamped

    @contextlib.contextmanager
    def keep_sending(self, celsius: float, every_s: float = 0.2) -> Iterator[None]:
        """Publish a reading every `every_s` seconds, as a probe does, until the block ends."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.send(celsius)
                stop.wait(every_s)

        thread = threading.Thread(target=loop, name=f"probe {self.sensor}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(10)

    def seen_by(self, alerts: RunningAlerts) -> datetime | None:
        """The newest reading of this probe the alert service has taken in."""
        key = f"{self.site}/{self.device}/{self.sensor}/sensor_silent"
        state = alerts.on_engine(lambda engine: engine.rules.state().get(key, {}))
        seen = state.get("last_seen")
        return datetime.fromisoformat(seen) if seen else None
