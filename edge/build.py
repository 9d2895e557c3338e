"""Turn a device's config into its reading sources, one builder a sensor type.

A builder imports its driver only when called, so an agent loads the drivers of the
sensor types it has and no others (never OpenCV, GPIO or serial libraries it does not use).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import tzinfo
from pathlib import Path
from typing import Any, TypeVar

from edge.config import Clock, EdgeConfig, SensorConfig
from edge.sources import ReadingSource


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a source builder may need besides its own config."""

    site: str
    device: str
    clock: Clock
    seed: int = 1
    speed: float = 1.0
    """Clock seconds per real second: 1 on a Pi, more in a fast simulation."""
    tz: tzinfo | None = None
    """The kitchen's time zone (meal hours); None means the system's."""
    pin_factory: Any = None
    """gpiozero pin factory; None lets gpiozero choose (lgpio on a Pi), tests pass MockFactory."""
    w1_root: Path | None = None
    """The 1-Wire devices folder; None means /sys/bus/w1/devices."""
    temperature_observer: Callable[[Any], None] | None = None
    """Sees every good probe reading at once: the local alarm, so it works offline."""

    def random(self, sensor: str) -> random.Random:
        """A generator seeded by the seed, site, device and sensor (reproducible)."""
        return random.Random(f"{self.seed}/{self.site}/{self.device}/{sensor}")  # noqa: S311

    def poll_interval(self, clock_seconds: float) -> float:
        """Real seconds between polls for an interval in clock seconds."""
        return max(clock_seconds / self.speed, 0.02)


SourceBuilder = Callable[[SensorConfig, BuildContext], ReadingSource]
_T = TypeVar("_T")


def _expect(sensor: SensorConfig, kind: type[_T]) -> _T:
    if not isinstance(sensor, kind):
        raise TypeError(f"{sensor.type} builder got a {type(sensor).__name__}")
    return sensor


def _cold_unit(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.simulation.cold_units import ColdUnitSimulator
    from edge.simulation.configs import SimulatedColdUnitConfig

    return ColdUnitSimulator.from_config(_expect(sensor, SimulatedColdUnitConfig), context)


def _waste_bin(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.simulation.configs import SimulatedWasteBinConfig
    from edge.simulation.waste import WasteBinSimulator

    return WasteBinSimulator.from_config(_expect(sensor, SimulatedWasteBinConfig), context)


def _dining_room(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.simulation.configs import SimulatedDiningRoomConfig
    from edge.simulation.dining import DiningRoomSimulator

    return DiningRoomSimulator.from_config(_expect(sensor, SimulatedDiningRoomConfig), context)


def _ds18b20(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.drivers.ds18b20 import W1_ROOT, DS18B20Config, DS18B20Source

    return DS18B20Source(
        _expect(sensor, DS18B20Config),
        root=context.w1_root or W1_ROOT,
        observer=context.temperature_observer,
    )


def _door(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.drivers.door import DoorConfig, DoorSource

    return DoorSource(_expect(sensor, DoorConfig), pin_factory=context.pin_factory)


def _alarm(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.drivers.alarm import AlarmConfig, LocalAlarm

    return LocalAlarm(_expect(sensor, AlarmConfig), pin_factory=context.pin_factory)


def _waste_station(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.waste.station import WasteStation, WasteStationConfig

    return WasteStation(_expect(sensor, WasteStationConfig), pin_factory=context.pin_factory)


def _people_counter(sensor: SensorConfig, context: BuildContext) -> ReadingSource:
    from edge.camera.config import PeopleCounterConfig
    from edge.camera.source import PeopleCounterSource

    return PeopleCounterSource(
        _expect(sensor, PeopleCounterConfig), tz=context.tz, now=context.clock()
    )


SOURCE_BUILDERS: dict[str, SourceBuilder] = {
    "ds18b20": _ds18b20,
    "door": _door,
    "alarm": _alarm,
    "waste_station": _waste_station,
    "people_counter": _people_counter,
    "simulated-cold-unit": _cold_unit,
    "simulated-waste-bin": _waste_bin,
    "simulated-dining-room": _dining_room,
}


def build_sources(config: EdgeConfig, context: BuildContext) -> list[ReadingSource]:
    """Build every configured sensor's source; close those built if one fails."""
    sources: list[ReadingSource] = []
    # The alarm is built first so every probe can feed it directly, network or not.
    ordered = sorted(config.sensors, key=lambda s: s.type != "alarm")
    try:
        for sensor in ordered:
            source = SOURCE_BUILDERS[sensor.type](sensor, context)
            sources.append(source)
            if sensor.type == "alarm":
                context = replace(context, temperature_observer=getattr(source, "observe", None))
    except BaseException:
        for source in sources:
            source.close()
        raise
    return sources
