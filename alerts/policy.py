"""What counts as a food-safety alert: limits and delays per cold unit, with kitchen defaults.

Defaults follow the usual rules for a kitchen serving vulnerable people: a fridge is a
warning above 5 °C for 30 minutes and critical above 8 °C for 15 minutes (at once above
10 °C); a freezer is a warning above -15 °C and critical above -12 °C with the same
delays; hot holding is critical below 60 °C. The delays ride through door openings and
defrost; the hysteresis keeps an alert from flapping on the limit.
"""

from __future__ import annotations

from datetime import time, timedelta

from pydantic import BaseModel, ConfigDict, Field

from canteen.cold_units import UnitKind


class DefrostWindow(BaseModel):
    """A daily window in which the unit defrosts and temperature rules rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = Field(title="Start (local time)")
    minutes: int = Field(30, gt=0, le=240, title="Length (minutes)")


class UnitPolicy(BaseModel):
    """The alert rules of one kind of unit, or of one unit that overrides its kind's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warning_c: float | None = Field(title="Warning beyond (°C)")
    warning_delay: timedelta = Field(timedelta(minutes=30), title="Warning after")
    critical_c: float = Field(title="Critical beyond (°C)")
    critical_delay: timedelta = Field(timedelta(minutes=15), title="Critical after")
    immediate_c: float | None = Field(None, title="Critical at once beyond (°C)")
    too_cold_is_bad: bool = Field(
        False, title="Alarm when too cold", description="True for hot holding (below is bad)."
    )
    hysteresis_c: float = Field(0.5, ge=0, le=5, title="Back in range by (°C)")
    door_open_limit: timedelta = Field(timedelta(minutes=5), title="Door open longer than")
    silent_after: timedelta = Field(timedelta(minutes=30), title="No reading for")
    defrost: tuple[DefrostWindow, ...] = Field((), title="Defrost windows")

    def beyond(self, celsius: float, limit: float | None) -> bool:
        """Whether a temperature is on the wrong side of a limit."""
        if limit is None:
            return False
        return celsius < limit if self.too_cold_is_bad else celsius > limit

    def back_in_range(self, celsius: float, limit: float) -> bool:
        """Whether a temperature is clearly back, by the hysteresis, inside a limit."""
        if self.too_cold_is_bad:
            return celsius >= limit + self.hysteresis_c
        return celsius <= limit - self.hysteresis_c


DEFAULT_POLICIES: dict[UnitKind, UnitPolicy] = {
    UnitKind.FRIDGE: UnitPolicy(warning_c=5.0, critical_c=8.0, immediate_c=10.0),
    UnitKind.FREEZER: UnitPolicy(warning_c=-15.0, critical_c=-12.0),
    UnitKind.HOT_HOLDING: UnitPolicy(
        warning_c=None, critical_c=60.0, too_cold_is_bad=True, hysteresis_c=1.0
    ),
}
CLOCK_SKEW_LIMIT = timedelta(minutes=2)
"""A device whose clock is further off than this raises a clock alert (PROTOCOL.md)."""
CLOCK_HOLD = timedelta(minutes=5)
"""How long a clock must stay wrong (or unsynchronised) before it is an alert."""
OFFLINE_GRACE = timedelta(minutes=5)
"""A device that comes back within this (a reboot) raises nothing."""
DENIED_QUIET = timedelta(minutes=15)
"""A refused-publish alert clears once the device has tried nothing more for this long."""
