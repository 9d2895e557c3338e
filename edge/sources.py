"""The one interface every sensor driver offers the agent: readings on demand."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from protocol import Reading


class ReadingSource(Protocol):
    """Something on the Pi that produces readings: a probe, a door, a scale, a camera.

    The agent calls `poll` about every `interval_s` seconds with the current time.
    A source that sees events between polls (a door switch, a drop on the scale)
    queues them and returns them at the next poll; `poll` must not block for long.
    """

    name: str
    interval_s: float

    def poll(self, now: datetime) -> list[Reading]:
        """Return the readings taken since the last call (possibly none)."""
        ...

    def close(self) -> None:
        """Release pins, files and devices."""
        ...


@runtime_checkable
class FaultReporting(Protocol):
    """A source that rides out a fault (no reading, no exception) and says what is wrong.

    A DS18B20 probe failing its CRC gives no reading rather than a bogus one; `fault`
    tells the agent why, so the status names the sensor in `faults` and the hub can
    raise a probe-fault alert instead of only noticing the silence later.
    """

    @property
    def fault(self) -> str | None:
        """What is wrong with the sensor since its latest poll; None while it reads."""
        ...
