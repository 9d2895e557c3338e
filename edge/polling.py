"""Polling a device's sensors on their own intervals, and knowing which of them are failing.

One sensor's fault never stops the others: its exception is logged with its traceback
once, then again only when it changes, and the fault is kept for the status until the
sensor reads again. A driver that rides out a fault itself (`FaultReporting`) says what
is wrong through its `fault`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

from edge.config import Clock
from edge.sources import FaultReporting, ReadingSource
from protocol import Reading

logger = logging.getLogger(__name__)


class SensorPoller:
    """Each source's next poll, and what is wrong with each failing one now."""

    def __init__(
        self,
        sources: Sequence[ReadingSource],
        clock: Clock,
        start: float,
        faults_changed: Callable[[], None],
    ) -> None:
        """`faults_changed` is called when a source starts or stops failing."""
        self.sources = list(sources)
        self._clock = clock
        self._due = [start] * len(self.sources)
        self._faults: dict[int, str] = {}
        """What is wrong with each failing source now, by its index in `sources`."""
        self._faults_changed = faults_changed

    def next_due(self) -> float:
        """When the next poll is due (monotonic seconds); infinity without sources."""
        return min(self._due, default=math.inf)

    def poll_due(self, now: float) -> list[Reading]:
        """Poll every source whose interval is due; return their readings."""
        readings: list[Reading] = []
        for index, source in enumerate(self.sources):
            if self._due[index] > now:
                continue
            self._due[index] = now + source.interval_s
            try:
                readings.extend(source.poll(self._clock()))
            except Exception as err:  # one sensor's fault must not stop the others
                self._report_fault(index, err)
            else:
                self._note_fault(
                    index, source.fault if isinstance(source, FaultReporting) else None
                )
        return readings

    def faulty_sensors(self) -> list[str]:
        """The names of the sensors whose driver is failing now, for the status."""
        failing = list(self._faults)  # one C-level copy: the birth is built on paho's thread
        return sorted({self.sources[index].name for index in failing})

    def _report_fault(self, index: int, err: Exception) -> None:
        """Log a sensor's fault with its traceback once, then only when it changes."""
        text = f"{type(err).__name__}: {err}"
        if self._faults.get(index) != text:
            logger.error("sensor %s failed: %s", self.sources[index].name, text, exc_info=err)
        self._note_fault(index, text)

    def _note_fault(self, index: int, fault: str | None) -> None:
        """Keep a source's fault (None: it reads again); tell when one starts or ends.

        Keyed by source, not by name: a probe and a door of one unit share the name, and
        the door reading fine must not clear the probe's fault.
        """
        if fault is None:
            if self._faults.pop(index, None) is not None:
                self._faults_changed()
            return
        if index not in self._faults:
            self._faults_changed()
        self._faults[index] = fault
