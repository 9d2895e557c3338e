"""What a cold unit is: fridge, freezer or hot-holding, and its safe temperature range.

The wall screen colours a tile with these ranges at once; the alert rules add delays on
top of the same figures (a fridge above 5 °C is only an alert after it has stayed there).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UnitKind(StrEnum):
    """The kinds of unit a probe can sit in."""

    FRIDGE = "fridge"
    FREEZER = "freezer"
    HOT_HOLDING = "hot-holding"


class UnitState(StrEnum):
    """How a unit's latest temperature stands against its range."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SafeRange:
    """Warning and critical limits; `cold` units go wrong upwards, hot-holding downwards."""

    warning_c: float
    critical_c: float
    cold: bool = True

    def state(self, celsius: float | None) -> UnitState:
        """Place a temperature against the limits."""
        if celsius is None:
            return UnitState.UNKNOWN
        sign = 1.0 if self.cold else -1.0
        if sign * (celsius - self.critical_c) > 0:
            return UnitState.CRITICAL
        if sign * (celsius - self.warning_c) > 0:
            return UnitState.WARNING
        return UnitState.OK


DEFAULT_RANGES: dict[UnitKind, SafeRange] = {
    UnitKind.FRIDGE: SafeRange(warning_c=5.0, critical_c=8.0),
    UnitKind.FREEZER: SafeRange(warning_c=-15.0, critical_c=-12.0),
    UnitKind.HOT_HOLDING: SafeRange(warning_c=63.0, critical_c=60.0, cold=False),
}


def guess_kind(sensor: str) -> UnitKind:
    """A unit's kind from its probe's name when the config does not say (freezer-1...)."""
    if "freez" in sensor:
        return UnitKind.FREEZER
    if sensor.startswith("hot") or "bain" in sensor:
        return UnitKind.HOT_HOLDING
    return UnitKind.FRIDGE
