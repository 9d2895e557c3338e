"""The fridge node's own alarm: a buzzer and LED that need no network.

`LocalAlarm` holds one `ExcursionTimer` per cold unit and is fed straight from the
probe sources (pass `alarm.observe` as a `DS18B20Source` observer), never through
MQTT, so a unit left too warm is heard in the kitchen even with the hub or the
network down. The agent also polls it like any source (it returns no readings),
which lets it notice a probe that has gone silent.

Outputs: while any unit is alarming the buzzer beeps and the LED blinks. The
silence button mutes the units alarming at that moment for `silence_minutes`
(the LED stays lit); the buzzer comes back if a unit is still out after that,
and a unit that recovers is re-armed at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.cold.excursion import (
    ColdLimits,
    ExcursionState,
    ExcursionStatus,
    ExcursionTimer,
)
from edge.drivers import GpioPin, utc_now
from protocol import Reading, TemperatureReading
from protocol.models import Slug

logger = logging.getLogger(__name__)


class ColdUnitLimitsConfig(BaseModel):
    """The limits of one cold unit watched by the local alarm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: Slug = Field(title="Sensor", description="Slug of the unit's probe, e.g. fridge-1.")
    min_c: float = Field(title="Lowest (°C)", description="Colder than this is out of range.")
    max_c: float = Field(title="Highest (°C)", description="Warmer than this is out of range.")
    delay_minutes: float = Field(
        30.0,
        ge=0,
        le=24 * 60,
        title="Delay (min)",
        description="How long the unit may stay out of range (a door open for a delivery) "
        "before the alarm sounds.",
    )
    missing_minutes: float = Field(
        15.0,
        gt=0,
        le=24 * 60,
        title="Probe silence (min)",
        description="Sound the alarm when the probe has given no reading this long.",
    )

    @model_validator(mode="after")
    def _check_limits(self) -> ColdUnitLimitsConfig:
        if self.min_c >= self.max_c:
            raise ValueError(f"min_c ({self.min_c}) must be below max_c ({self.max_c})")
        return self

    def limits(self, hysteresis_c: float) -> ColdLimits:
        """The pure limits for this unit's excursion timer."""
        return ColdLimits(
            min_c=self.min_c,
            max_c=self.max_c,
            delay=timedelta(minutes=self.delay_minutes),
            missing_after=timedelta(minutes=self.missing_minutes),
            hysteresis_c=hysteresis_c,
        )


class AlarmConfig(BaseModel):
    """The local buzzer, LED and silence button of a fridge node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["alarm"] = Field("alarm", title="Driver", description="Selects this driver.")
    name: Slug = Field(
        "local-alarm", title="Name", description="Name of this alarm in logs and status."
    )
    buzzer_pin: GpioPin | None = Field(
        None, title="Buzzer pin", description="BCM pin of an active buzzer (high = sound)."
    )
    led_pin: GpioPin | None = Field(None, title="LED pin", description="BCM pin of the LED.")
    silence_pin: GpioPin | None = Field(
        None, title="Silence button pin", description="BCM pin of a push button to ground."
    )
    silence_minutes: float = Field(
        15.0, gt=0, le=240, title="Silence (min)", description="How long a press mutes."
    )
    hysteresis_c: float = Field(
        0.5,
        ge=0,
        le=5,
        title="Hysteresis (°C)",
        description="How far back inside its limits a unit must come to count as ok.",
    )
    beep_on_s: float = Field(0.2, gt=0, le=10, title="Beep on (s)", description="Sound time.")
    beep_off_s: float = Field(0.8, gt=0, le=60, title="Beep off (s)", description="Pause time.")
    interval_s: float = Field(
        1.0, gt=0, le=60, title="Interval (s)", description="Seconds between checks."
    )
    units: list[ColdUnitLimitsConfig] = Field(
        min_length=1, title="Units", description="The cold units this alarm watches."
    )

    @model_validator(mode="after")
    def _check(self) -> AlarmConfig:
        if self.buzzer_pin is None and self.led_pin is None:
            raise ValueError("set buzzer_pin, led_pin or both: an alarm needs an output")
        pins = [p for p in (self.buzzer_pin, self.led_pin, self.silence_pin) if p is not None]
        if len(set(pins)) != len(pins):
            raise ValueError(f"buzzer_pin, led_pin and silence_pin must differ; got {pins}")
        sensors = [u.sensor for u in self.units]
        if len(set(sensors)) != len(sensors):
            raise ValueError(f"each unit may appear once in units; got {sensors}")
        for unit in self.units:
            if self.hysteresis_c * 2 >= unit.max_c - unit.min_c:
                raise ValueError(f"hysteresis_c is too wide for {unit.sensor}'s limits")
        return self


class AlarmOutput(StrEnum):
    """What the buzzer and LED are doing."""

    OFF = "off"
    SILENCED = "silenced"
    SOUNDING = "sounding"


class LocalAlarm:
    """Drive the buzzer and LED from the cold units' excursion timers."""

    def __init__(
        self,
        config: AlarmConfig,
        *,
        pin_factory: Any = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        from gpiozero import LED, Button, Buzzer  # only where pins are used

        self.name = config.name
        self.interval_s = config.interval_s
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        started = clock()
        self._timers = {
            u.sensor: ExcursionTimer(u.limits(config.hysteresis_c), started) for u in config.units
        }
        self._statuses = {sensor: timer.check(started) for sensor, timer in self._timers.items()}
        self._silenced_until: dict[str, datetime] = {}
        self.output = AlarmOutput.OFF
        self._buzzer: Any = None
        self._led: Any = None
        self._button: Any = None
        try:
            if config.buzzer_pin is not None:
                self._buzzer = Buzzer(config.buzzer_pin, pin_factory=pin_factory)
            if config.led_pin is not None:
                self._led = LED(config.led_pin, pin_factory=pin_factory)
            if config.silence_pin is not None:
                self._button = Button(
                    config.silence_pin, pull_up=True, bounce_time=0.05, pin_factory=pin_factory
                )
                self._button.when_pressed = self._silence_pressed
        except Exception:
            self.close()
            raise

    @property
    def statuses(self) -> dict[str, ExcursionStatus]:
        """Each watched unit's state at the latest check."""
        with self._lock:
            return dict(self._statuses)

    def observe(self, reading: TemperatureReading) -> None:
        """Take a probe's reading (the DS18B20 source's observer hook)."""
        timer = self._timers.get(reading.sensor)
        if timer is None:
            return
        with self._lock:
            timer.feed(reading.ts, reading.celsius)
        self.update(reading.ts)

    def silence(self, now: datetime) -> None:
        """Mute the units alarming now for `silence_minutes`."""
        until = now + timedelta(minutes=self._config.silence_minutes)
        with self._lock:
            alarming = [
                s for s, st in self._statuses.items() if st.state is ExcursionState.ALARMING
            ]
            for sensor in alarming:
                self._silenced_until[sensor] = until
        if alarming:
            logger.warning("alarm silenced until %s for %s", until.isoformat(), ", ".join(alarming))
        self.update(now)

    def _silence_pressed(self) -> None:
        self.silence(self._clock())

    def update(self, now: datetime) -> AlarmOutput:
        """Re-check every unit at `now` and set the buzzer and LED accordingly."""
        with self._lock:
            self._statuses = {s: timer.check(now) for s, timer in self._timers.items()}
            alarming = {
                s for s, st in self._statuses.items() if st.state is ExcursionState.ALARMING
            }
            for sensor, until in list(self._silenced_until.items()):
                if sensor not in alarming or now >= until:
                    del self._silenced_until[sensor]  # recovered or silence over: re-arm
            if alarming - self._silenced_until.keys():
                output = AlarmOutput.SOUNDING
            else:
                output = AlarmOutput.SILENCED if alarming else AlarmOutput.OFF
            self._set_output(output, alarming)
            return output

    def _set_output(self, output: AlarmOutput, alarming: set[str]) -> None:
        if output is self.output:
            return
        self.output = output
        on_s, off_s = self._config.beep_on_s, self._config.beep_off_s
        if output is AlarmOutput.SOUNDING:
            causes = ", ".join(f"{s}: {self._statuses[s].cause}" for s in sorted(alarming))
            logger.warning("local alarm sounding (%s)", causes)
        else:
            logger.info("local alarm %s", output)
        if self._buzzer is not None:
            if output is AlarmOutput.SOUNDING:
                self._buzzer.beep(on_time=on_s, off_time=off_s)
            else:
                self._buzzer.off()
        if self._led is not None:
            if output is AlarmOutput.SOUNDING:
                self._led.blink(on_time=on_s, off_time=off_s)
            elif output is AlarmOutput.SILENCED:
                self._led.on()
            else:
                self._led.off()

    def poll(self, now: datetime) -> list[Reading]:
        """Re-check the units (a silent probe alarms too); the alarm sends no readings."""
        self.update(now)
        return []

    def close(self) -> None:
        """Silence the outputs and release the pins."""
        for output in (self._buzzer, self._led):
            if output is not None:
                output.off()  # closing alone leaves the pin where the last beep put it
        for device in (self._button, self._buzzer, self._led):
            if device is not None:
                device.close()
