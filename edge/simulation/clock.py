"""The simulated kitchen's clock: replays the past fast, never runs ahead of real time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    """The real time, aware, in UTC."""
    return datetime.now(UTC)


def default_start(speed: float, now: datetime | None = None) -> datetime:
    """Where a simulation starts: 24 hours ago when sped up (a day replayed), else now."""
    now = now or utc_now()
    return now - timedelta(hours=24) if speed > 1 else now


class SimClock:
    """Kitchen time = start + real time elapsed x speed, but never ahead of real now.

    Once the replay catches up with the present the clock simply follows real time,
    so every timestamp stays in the past (the hub rejects one 5 minutes ahead).
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        real_now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime (e.g. with tzinfo=UTC)")
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.start = start
        self.speed = speed
        self._real_now = real_now
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        """The current kitchen time."""
        elapsed = (self._monotonic() - self._origin) * self.speed
        return min(self.start + timedelta(seconds=elapsed), self._real_now())
