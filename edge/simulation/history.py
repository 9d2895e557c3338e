"""A simulated site's past: the readings its devices would have sent over a period.

The demo seeds the database with the last day so the wall screen's curves and totals
have something to show from the first second; live readings then come through the
real agents, broker and ingest.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo

from pydantic import TypeAdapter

from edge.build import SOURCE_BUILDERS, BuildContext
from edge.config import SensorConfig
from edge.simulation.kitchen import DEVICES
from protocol import Reading

_SENSOR = TypeAdapter[SensorConfig](SensorConfig)


def past_readings(
    site: str, start: datetime, end: datetime, seed: int = 1, tz: tzinfo | None = None
) -> Iterator[tuple[str, Reading]]:
    """Every (device, reading) the simulated site produces from `start` to `end`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    for device, sensors in DEVICES.items():
        context = BuildContext(site=site, device=device, clock=lambda: start, seed=seed, tz=tz)
        for entry in sensors:
            sensor = _SENSOR.validate_python(entry)
            source = SOURCE_BUILDERS[sensor.type](sensor, context)
            try:
                for reading in source.poll(end):
                    yield device, reading
            finally:
                source.close()
