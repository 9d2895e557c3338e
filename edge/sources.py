"""The one interface every sensor driver offers the agent: readings on demand."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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
