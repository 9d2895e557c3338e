"""A simulated people counter at the dining-room door.

Diners arrive around each meal's peak (a bell curve of arrivals), stay a while
(longer at lunch and dinner than at breakfast) and leave. Each reading counts who
came in and went out since the previous one and how many are inside, which is never
negative and falls to zero after dinner.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from edge.build import BuildContext
from edge.config import Clock
from edge.simulation.configs import SimulatedDiningRoomConfig
from edge.simulation.timeline import first_tick, local_hour, normal_mass, poisson
from protocol import OccupancyReading, Reading


@dataclass(frozen=True, slots=True)
class MealRush:
    """When diners arrive for a meal (local hours) and how long they stay (minutes)."""

    peak_h: float
    spread_h: float
    stay_min: float


RUSHES = (MealRush(7.5, 0.35, 15.0), MealRush(11.85, 0.5, 30.0), MealRush(17.7, 0.4, 28.0))
"""Breakfast, lunch and dinner; arrivals stop 2.5 spreads either side of the peak."""


class DiningRoomSimulator:
    """The dining room's door counter, as a `ReadingSource`."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        rng: random.Random,
        *,
        diners: tuple[int, int, int] = (120, 250, 150),
        every: timedelta = timedelta(minutes=1),
        poll_interval_s: float | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        self.name = name
        self.interval_s = poll_interval_s or every.total_seconds()
        self.diners, self._rng, self._tz, self._every = diners, rng, tz, every
        self._next_tick = first_tick(clock(), every)
        self._leaving: list[datetime] = []

    @classmethod
    def from_config(
        cls, config: SimulatedDiningRoomConfig, context: BuildContext
    ) -> DiningRoomSimulator:
        """Build from a device config's sensor entry."""
        return cls(
            config.name,
            context.clock,
            context.random(config.name),
            diners=config.diners,
            every=timedelta(seconds=config.interval_s),
            poll_interval_s=context.poll_interval(config.interval_s),
            tz=context.tz,
        )

    @property
    def present(self) -> int:
        """People in the room now."""
        return len(self._leaving)

    def poll(self, now: datetime) -> list[Reading]:
        """One reading per count interval up to `now`, oldest first."""
        readings: list[Reading] = []
        while self._next_tick <= now:
            readings.append(self._count(self._next_tick))
            self._next_tick += self._every
        return readings

    def close(self) -> None:
        """Nothing to release."""

    def _count(self, moment: datetime) -> OccupancyReading:
        start = moment - self._every
        entered = 0
        for rush, diners in zip(RUSHES, self.diners, strict=True):
            expected = diners * self._arrival_share(rush, start, moment)
            for _ in range(poisson(self._rng, expected)):
                arrived = start + self._every * self._rng.random()
                stay = min(max(self._rng.lognormvariate(math.log(rush.stay_min), 0.35), 5), 90)
                heapq.heappush(self._leaving, arrived + timedelta(minutes=stay))
                entered += 1
        exited = 0
        while self._leaving and self._leaving[0] <= moment:
            heapq.heappop(self._leaving)
            exited += 1
        return OccupancyReading(
            sensor=self.name, ts=moment, entered=entered, exited=exited, present=self.present
        )

    def _arrival_share(self, rush: MealRush, start: datetime, end: datetime) -> float:
        """Share of a meal's diners arriving between `start` and `end`."""
        low = local_hour(start, self._tz)
        high = low + (end - start).total_seconds() / 3600
        cutoff = 2.5 * rush.spread_h
        low, high = max(low, rush.peak_h - cutoff), min(high, rush.peak_h + cutoff)
        if high <= low:
            return 0.0
        return normal_mass(low, high, rush.peak_h, rush.spread_h)
