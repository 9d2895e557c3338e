"""Test doubles for the agent: a counting probe, a broken probe, a fake link."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from edge.drivers import ScaleSample
from edge.mqtt_link import Delivery
from protocol import Reading, TemperatureReading, format_ts

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class CountingProbe:
    """A probe whose n-th reading is stamped T0 + n ms, so each reading is recognisable."""

    def __init__(self, name: str = "fridge-1", per_poll: int = 1, interval_s: float = 1.0):
        self.name, self.per_poll, self.interval_s = name, per_poll, interval_s
        self.count = 0
        self.paused = False

    def expected(self) -> set[tuple[str, str, str]]:
        """Every reading taken so far, as (kind, sensor, ts) on the wire."""
        return {
            ("temperature", self.name, format_ts(T0 + timedelta(milliseconds=n)))
            for n in range(self.count)
        }

    def poll(self, now: datetime) -> list[Reading]:
        if self.paused:
            return []
        first, self.count = self.count, self.count + self.per_poll
        return [
            TemperatureReading(sensor=self.name, ts=T0 + timedelta(milliseconds=n), celsius=3.0)
            for n in range(first, self.count)
        ]

    def close(self) -> None:
        pass


class BrokenProbe:
    name, interval_s = "fridge-2", 1.0

    def poll(self, now: datetime) -> list[Reading]:
        raise OSError("probe 28-000005e2fdc3 not found on the 1-Wire bus")

    def close(self) -> None:
        pass


class ScriptedScale:
    """A scale that reports the weights a test queues, one per read, then nothing."""

    def __init__(self) -> None:
        self.weights: list[float] = []

    def read(self) -> ScaleSample | None:
        return ScaleSample(self.weights.pop(0)) if self.weights else None

    def tare(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeLink:
    """A link that records what is published and lets the test play the broker."""

    def __init__(self) -> None:
        self.connected = False
        self.published: list[tuple[int, str, bytes, bool]] = []
        self.birth: Callable[[], bytes] | None = None
        self.on_delivery: Callable[[Delivery], None] | None = None
        self.on_config: Callable[[bytes], None] | None = None
        self.closed = False

    def connect(
        self,
        birth: Callable[[], bytes],
        on_delivery: Callable[[Delivery], None],
        on_config: Callable[[bytes], None] | None = None,
    ) -> None:
        self.birth, self.on_delivery, self.on_config = birth, on_delivery, on_config

    def is_connected(self) -> bool:
        return self.connected

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        mid = len(self.published) + 1
        self.published.append((mid, topic, payload, retain))
        return mid

    def close(self) -> None:
        self.closed = True

    def telemetry(self) -> list[tuple[int, dict[str, object]]]:
        return [(m, json.loads(p)) for m, t, p, _ in self.published if t.endswith("/telemetry")]

    def push_config(self, payload: bytes) -> None:
        """Play the broker delivering the device's (retained) config message."""
        assert self.on_config is not None
        self.on_config(payload)

    def answer(self, mids: Sequence[int], accepted: bool = True, reason: str = "Success") -> None:
        assert self.on_delivery is not None
        for mid in mids:
            self.on_delivery(Delivery(mid, accepted, reason))
