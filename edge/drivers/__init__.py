"""Sensor and actuator drivers of a kitchen Pi: probes, door switches, alarm, scales.

Each driver is a small class built with an injected pin factory, sysfs root or
serial port, so tests run it against gpiozero's `MockFactory`, a temporary sysfs
tree or pyserial's `loop://`. The pieces here are shared by several drivers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol

from pydantic import Field

__all__ = ["GpioPin", "LogThrottle", "Scale", "ScaleError", "ScaleSample", "utc_now"]

GpioPin = Annotated[int, Field(ge=0, le=27)]
"""A Raspberry Pi GPIO pin by its BCM number."""


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


class LogThrottle:
    """Let a repeated warning through at most once per period, counting the rest.

    A probe that fails every 30 s for a night must not fill the SD card; the first
    failure is logged at once, then one line per period says how many were held back.
    """

    def __init__(self, period: timedelta) -> None:
        self._period = period
        self._last: datetime | None = None
        self._held_back = 0

    def allow(self, now: datetime) -> int | None:
        """Return how many messages were held back if one may be logged now, else None."""
        if self._last is None or now - self._last >= self._period:
            held_back, self._held_back, self._last = self._held_back, 0, now
            return held_back
        self._held_back += 1
        return None

    def reset(self) -> None:
        """Forget the history, so the next message goes through at once."""
        self._last = None
        self._held_back = 0

    def warn(self, logger: logging.Logger, now: datetime, msg: str, *args: object) -> None:
        """Log `msg % args` at warning level unless throttled."""
        held_back = self.allow(now)
        if held_back is None:
            return
        if held_back:
            with_count = f"{msg} (%d similar messages held back)"
            logger.warning(with_count, *args, held_back)
        else:
            logger.warning(msg, *args)


class ScaleError(Exception):
    """A scale that could not give a weight (not ready, garbled, overloaded)."""


@dataclass(frozen=True, slots=True)
class ScaleSample:
    """One weight from a scale; `stable` is the scale's own steadiness flag, if it has one."""

    grams: float
    stable: bool = True


class Scale(Protocol):
    """A scale under a waste bin: the HX711 load cell or a serial bench scale."""

    def read(self) -> ScaleSample | None:
        """Return the latest weight, None if there is no new one; raise ScaleError."""
        ...

    def tare(self) -> None:
        """Make the present load read zero."""
        ...

    def close(self) -> None:
        """Release pins or the serial port."""
        ...
