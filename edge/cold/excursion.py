"""Temperature excursions of a cold unit: when a fridge has been too warm for too long.

Pure logic, no I/O: feed `(time, celsius)` and ask for the state at any time. A unit
goes `pending` as soon as a reading leaves its limits and `alarming` once it has
stayed out for `delay`; it comes back to `ok` only once a reading is inside the
limits by the hysteresis margin, so a value hovering on the limit does not flap.
A probe that has given no reading for `missing_after` also alarms: a silent probe
must never look like a cold fridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ExcursionState(StrEnum):
    """How a cold unit stands against its limits."""

    OK = "ok"
    PENDING = "pending"
    ALARMING = "alarming"


class ExcursionCause(StrEnum):
    """What is wrong with a unit that is not ok."""

    NONE = "none"
    TOO_WARM = "too_warm"
    TOO_COLD = "too_cold"
    NO_PROBE = "no_probe"


@dataclass(frozen=True)
class ColdLimits:
    """The limits of one cold unit, and how patient to be about leaving them."""

    min_c: float
    max_c: float
    delay: timedelta
    missing_after: timedelta
    hysteresis_c: float = 0.5

    def __post_init__(self) -> None:
        if self.min_c >= self.max_c:
            raise ValueError(f"min_c {self.min_c} must be below max_c {self.max_c}")
        if not 0 <= self.hysteresis_c < (self.max_c - self.min_c) / 2:
            raise ValueError("hysteresis_c must be at least 0 and under half the range")


@dataclass(frozen=True)
class ExcursionStatus:
    """A unit's state, why, and since when it has been out of limits (or silent)."""

    state: ExcursionState
    cause: ExcursionCause = ExcursionCause.NONE
    since: datetime | None = None


OK = ExcursionStatus(ExcursionState.OK)


class ExcursionTimer:
    """Track one unit's excursions from its readings and the passing of time."""

    def __init__(self, limits: ColdLimits, started: datetime) -> None:
        self.limits = limits
        self._started = started
        self._last_reading: datetime | None = None
        self._out_since: datetime | None = None
        self._cause = ExcursionCause.NONE
        self.last_celsius: float | None = None

    def _outside(self, celsius: float) -> bool:
        lim = self.limits
        if self._out_since is None:
            return celsius > lim.max_c or celsius < lim.min_c
        # Already out: come back only once clearly inside.
        return not lim.min_c + lim.hysteresis_c <= celsius <= lim.max_c - lim.hysteresis_c

    def feed(self, at: datetime, celsius: float) -> ExcursionStatus:
        """Record a reading taken at `at` and return the state it leads to."""
        if self._last_reading is not None and at < self._last_reading:
            return self.check(self._last_reading)  # a late reading changes nothing
        self._last_reading = at
        self.last_celsius = celsius
        if self._outside(celsius):
            mid = (self.limits.min_c + self.limits.max_c) / 2
            self._cause = ExcursionCause.TOO_WARM if celsius >= mid else ExcursionCause.TOO_COLD
            if self._out_since is None:
                self._out_since = at
        else:
            self._out_since = None
            self._cause = ExcursionCause.NONE
        return self.check(at)

    def check(self, now: datetime) -> ExcursionStatus:
        """Return the state at `now`, including a probe that has gone silent."""
        heard = self._last_reading or self._started
        if now - heard >= self.limits.missing_after:
            return ExcursionStatus(ExcursionState.ALARMING, ExcursionCause.NO_PROBE, heard)
        if self._out_since is None:
            return OK
        state = (
            ExcursionState.ALARMING
            if now - self._out_since >= self.limits.delay
            else ExcursionState.PENDING
        )
        return ExcursionStatus(state, self._cause, self._out_since)
