"""A simulated fridge or freezer: its probe's temperature and its door switch.

The air relaxes towards the setpoint (plus a slow drift) with the compressor's time
constant; an open door pulls it towards the kitchen's air; a defrost cycle lifts the
setpoint for a while. Doors open a few times an hour while the kitchen is staffed,
for seconds to minutes. Readings fall on an epoch-aligned grid of kitchen time, so
a run is reproducible from its seed and start, however the agent polls.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from edge.build import BuildContext
from edge.config import Clock
from edge.simulation.configs import SimulatedColdUnitConfig
from edge.simulation.timeline import EPOCH, SERVICE_HOURS, at_local_hour, first_tick, local_hour
from protocol import DoorReading, Reading, TemperatureReading

KITCHEN_AIR_C = 25.0
COOLING_TAU_S = 600.0
"""Time constant of the compressor pulling the air back to the setpoint."""
DOOR_TAU_S = 1500.0
"""Time constant of the kitchen's air warming the cabinet through an open door."""


@dataclass(frozen=True, slots=True)
class ColdUnitKind:
    """How a kind of cold unit behaves."""

    setpoint_c: float
    door_openings_per_hour: float
    defrost_every: timedelta
    defrost_for: timedelta
    defrost_rise_c: float


FRIDGE = ColdUnitKind(3.0, 4.0, timedelta(hours=6), timedelta(minutes=20), 3.0)
FREEZER = ColdUnitKind(-18.0, 1.5, timedelta(hours=8), timedelta(minutes=25), 6.0)
KINDS = {"fridge": FRIDGE, "freezer": FREEZER}


class ColdUnitSimulator:
    """A fridge or freezer's probe and door switch, as a `ReadingSource`."""

    def __init__(
        self,
        name: str,
        kind: ColdUnitKind,
        clock: Clock,
        rng: random.Random,
        *,
        every: timedelta = timedelta(seconds=30),
        door_report_every: timedelta = timedelta(minutes=5),
        poll_interval_s: float | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        self.name = name
        self.interval_s = poll_interval_s or every.total_seconds()
        self.kind, self._rng, self._tz = kind, rng, tz
        self._every, self._door_every = every, door_report_every
        start = clock()
        self._next_tick = first_tick(start, every)
        self._next_report = first_tick(start, door_report_every)
        self._celsius = kind.setpoint_c + rng.gauss(0, 0.2)
        self._drift_phase = rng.uniform(0, 2 * math.pi)
        self._defrost_offset = rng.uniform(0, kind.defrost_every.total_seconds())
        self.door_open = False
        self._next_change = self._next_opening(start)

    @classmethod
    def from_config(
        cls, config: SimulatedColdUnitConfig, context: BuildContext
    ) -> ColdUnitSimulator:
        """Build from a device config's sensor entry."""
        return cls(
            config.name,
            KINDS[config.unit],
            context.clock,
            context.random(config.name),
            every=timedelta(seconds=config.interval_s),
            door_report_every=timedelta(seconds=config.door_report_s),
            poll_interval_s=context.poll_interval(config.interval_s),
            tz=context.tz,
        )

    def poll(self, now: datetime) -> list[Reading]:
        """Every reading due on the grid up to `now`, oldest first."""
        readings: list[Reading] = []
        while self._next_tick <= now:
            readings.extend(self._tick(self._next_tick))
            self._next_tick += self._every
        return readings

    def close(self) -> None:
        """Nothing to release."""

    def _tick(self, moment: datetime) -> list[Reading]:
        """Door events since the last tick, then the temperature now."""
        readings: list[Reading] = []
        cursor, open_s = moment - self._every, 0.0
        while min(self._next_change, self._next_report) <= moment:
            event = min(self._next_change, self._next_report)
            open_s += (event - cursor).total_seconds() if self.door_open else 0.0
            cursor = event
            if self._next_change == event:
                self.door_open = not self.door_open
                self._next_change = self._next_door_change(event)
            else:
                self._next_report += self._door_every
            readings.append(DoorReading(sensor=self.name, ts=event, open=self.door_open))
        open_s += (moment - cursor).total_seconds() if self.door_open else 0.0
        self._settle(moment, open_s)
        probe = round(round((self._celsius + self._rng.gauss(0, 0.04)) * 16) / 16, 4)
        readings.append(TemperatureReading(sensor=self.name, ts=moment, celsius=probe))
        return readings

    def _settle(self, moment: datetime, open_s: float) -> None:
        """Move the cabinet's air over one tick."""
        hours = (moment - EPOCH).total_seconds() / 3600
        target = self.kind.setpoint_c + 0.3 * math.sin(2 * math.pi * hours / 7 + self._drift_phase)
        if self.defrosting(moment):
            target += self.kind.defrost_rise_c
        step_s = self._every.total_seconds()
        self._celsius += (target - self._celsius) * (1 - math.exp(-step_s / COOLING_TAU_S))
        self._celsius += (KITCHEN_AIR_C - self._celsius) * min(open_s / DOOR_TAU_S, 1.0)

    def defrosting(self, moment: datetime) -> bool:
        """Tell whether the unit is in a defrost cycle at `moment`."""
        seconds = (moment - EPOCH).total_seconds() + self._defrost_offset
        return seconds % self.kind.defrost_every.total_seconds() < (
            self.kind.defrost_for.total_seconds()
        )

    def _next_door_change(self, after: datetime) -> datetime:
        if not self.door_open:
            return self._next_opening(after)
        seconds = min(max(self._rng.lognormvariate(math.log(25), 0.9), 3.0), 300.0)
        return after + timedelta(seconds=seconds)

    def _next_opening(self, after: datetime) -> datetime:
        """The next time someone opens the door: a few an hour, only while staffed."""
        rate_per_s = self.kind.door_openings_per_hour / 3600
        moment = after
        while True:
            moment += timedelta(seconds=self._rng.expovariate(rate_per_s))
            opens, closes = SERVICE_HOURS
            if opens <= local_hour(moment, self._tz) < closes:
                return moment
            local = moment.astimezone(self._tz)
            morning = at_local_hour(local, opens)
            moment = morning if morning > local else at_local_hour(local + timedelta(days=1), opens)
