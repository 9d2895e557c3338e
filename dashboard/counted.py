"""Which readings today's totals already hold, so a re-delivered one counts once.

A reading is known by its sensor and timestamp. The wall screen's waste and entrance
totals must count each one once whatever the order (history read at start-up, a live
message, an agent's replay, a QoS 1 re-delivery), so every timestamp counted today is
kept until the kitchen's midnight. Kept as a set of `(sensor, ts)` tuples that cost
about 180 bytes a reading (the tuple, its int and its own copy of the sensor's name):
at 100 counted readings a second, 1 MB a minute until midnight. Here they are 4 bytes
each: per sensor, per hour, a sorted array of milliseconds into the hour.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

HOUR_MS = 3_600_000


class CountedReadings:
    """The (sensor, timestamp) pairs counted since midnight, 4 bytes a reading."""

    def __init__(self) -> None:
        self._hours: dict[str, dict[int, array[int]]] = {}
        self._count = 0

    def add(self, sensor: str, ts_ms: int) -> bool:
        """Remember a reading; False if it was already counted."""
        hours = self._hours.get(sensor)
        if hours is None:
            hours = self._hours[sensor] = {}
        hour, offset = divmod(ts_ms, HOUR_MS)
        stamps = hours.get(hour)
        if stamps is None:
            hours[hour] = array("i", (offset,))
        elif offset > stamps[-1]:  # the usual case: a sensor's readings arrive in order
            stamps.append(offset)
        else:
            # An hour's array at most: a late reading moves no more than that.
            at = bisect_left(stamps, offset)
            if at < len(stamps) and stamps[at] == offset:
                return False
            stamps.insert(at, offset)
        self._count += 1
        return True

    def __contains__(self, reading: object) -> bool:
        """Whether a `(sensor, ts_ms)` pair was counted."""
        if not isinstance(reading, tuple) or len(reading) != 2:
            return False
        sensor, ts_ms = reading
        hour, offset = divmod(ts_ms, HOUR_MS)
        stamps = self._hours.get(sensor, {}).get(hour)
        if stamps is None:
            return False
        at = bisect_left(stamps, offset)
        return at < len(stamps) and stamps[at] == offset

    def __len__(self) -> int:
        """How many readings were counted."""
        return self._count

    def stored_bytes(self) -> int:
        """Bytes the timestamps take (not the per-hour arrays' small fixed overhead)."""
        return sum(
            stamps.itemsize * len(stamps)
            for hours in self._hours.values()
            for stamps in hours.values()
        )

    def hours(self) -> int:
        """How many per-sensor hour arrays are kept."""
        return sum(len(hours) for hours in self._hours.values())

    def clear(self) -> None:
        """Forget everything (the kitchen's midnight)."""
        self._hours.clear()
        self._count = 0
