"""HX711 24-bit load-cell amplifier, bit-banged over two GPIO pins with gpiozero.

The chip's serial interface: DOUT goes low when a conversion is ready; each
positive pulse on PD_SCK shifts out one bit, MSB first, 24 bits of two's
complement; 1, 2 or 3 further pulses choose the input and gain of the *next*
conversion (channel A gain 128, channel B gain 32, channel A gain 64). Holding
PD_SCK high for more than 60 µs powers the chip down; taking it low again powers it
up, reset to channel A gain 128.

Python on Linux can be pre-empted in the middle of a pulse. A pulse that took too
long may have powered the chip down and garbled the word, so each pulse is timed
with `time.perf_counter_ns`; a read with a pulse over `max_pulse_us` is discarded
(`HX711TooSlow`) and the chip is reset to a known state. `HX711Scale` retries
discarded reads and turns raw counts into grams with a tare offset and a
counts-per-gram factor kept in a small JSON file.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.drivers import GpioPin, ScaleError, ScaleSample

logger = logging.getLogger(__name__)

GAIN_PULSES = {128: 1, 32: 2, 64: 3}
"""Extra pulses after the 24 data bits for each gain (32 means channel B)."""
POWER_DOWN_S = 100e-6  # PD_SCK high this long powers the chip down (datasheet: > 60 µs)
SATURATED = (0x7FFFFF, -0x800000)  # the chip clamps an input out of range to these


class HX711Error(ScaleError):
    """The HX711 gave no value."""


class HX711NotReady(HX711Error):
    """DOUT never went low: the chip is unpowered, disconnected or powered down."""


class HX711TooSlow(HX711Error):
    """A clock pulse took too long (the process was pre-empted); the read was discarded."""


def from_twos_complement(word: int, bits: int = 24) -> int:
    """Interpret an unsigned `bits`-bit word as two's complement."""
    return word - (1 << bits) if word & (1 << (bits - 1)) else word


class HX711:
    """The chip on a DOUT pin and a PD_SCK pin from an injected gpiozero pin factory."""

    def __init__(
        self,
        dout_pin: int,
        sck_pin: int,
        *,
        gain: Literal[128, 64, 32] = 128,
        pin_factory: Any = None,
        ready_timeout_s: float = 0.5,
        max_pulse_us: float = 50.0,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from gpiozero import (
            DigitalInputDevice,
            DigitalOutputDevice,
        )  # only where pins are used

        self.gain = gain
        self._ready_timeout_ns = int(ready_timeout_s * 1e9)
        self._max_pulse_ns = int(max_pulse_us * 1000)
        self._clock_ns = clock_ns
        self._sleep = sleep
        # DOUT is push-pull; the pull-up makes a missing chip read "not ready".
        self._dout = DigitalInputDevice(dout_pin, pull_up=True, pin_factory=pin_factory)
        try:
            self._sck = DigitalOutputDevice(sck_pin, initial_value=False, pin_factory=pin_factory)
        except Exception:
            self._dout.close()
            raise
        # Pins are driven directly: a gpiozero device call costs several µs more per edge.
        self._dout_pin = self._dout.pin
        self._sck_pin = self._sck.pin
        self._stale_gain = gain != 128  # after power-up the chip is at channel A, gain 128

    def is_ready(self) -> bool:
        """Tell whether a conversion is waiting (DOUT low)."""
        return not self._dout_pin.state

    def wait_ready(self) -> None:
        """Wait for DOUT to go low, or raise HX711NotReady after the timeout."""
        deadline = self._clock_ns() + self._ready_timeout_ns
        while not self.is_ready():
            if self._clock_ns() > deadline:
                raise HX711NotReady("DOUT stayed high: check the HX711's power and wiring")
            self._sleep(0.001)

    def _pulse(self) -> None:
        start = self._clock_ns()
        self._sck_pin.state = True
        self._sck_pin.state = False
        took = self._clock_ns() - start
        if took > self._max_pulse_ns:
            self.reset()
            raise HX711TooSlow(f"a PD_SCK pulse took {took / 1000:.0f} µs; read discarded")

    def _read_word(self) -> int:
        self.wait_ready()
        word = 0
        for _ in range(24):
            self._pulse()
            # DOUT holds the bit from the rising edge until the next one.
            word = (word << 1) | (1 if self._dout_pin.state else 0)
        for _ in range(GAIN_PULSES[self.gain]):
            self._pulse()
        return from_twos_complement(word)

    def read_raw(self) -> int:
        """Read one conversion as a signed count; raise HX711Error if there is none."""
        if self._stale_gain:
            self._read_word()  # still converted at the old gain: throw it away
            self._stale_gain = False
        value = self._read_word()
        if value in SATURATED:
            raise HX711Error(f"reading saturated at {value}: check the load cell's wiring")
        return value

    def power_down(self) -> None:
        """Hold PD_SCK high long enough for the chip to power down."""
        self._sck_pin.state = False
        self._sck_pin.state = True
        self._sleep(POWER_DOWN_S)

    def power_up(self) -> None:
        """Take PD_SCK low: the chip wakes at channel A, gain 128."""
        self._sck_pin.state = False
        self._stale_gain = self.gain != 128

    def reset(self) -> None:
        """Power the chip down and up again, from whatever state a failed read left."""
        self.power_down()
        self.power_up()

    def close(self) -> None:
        """Release both pins."""
        self._sck.close()
        self._dout.close()


@dataclass(frozen=True)
class Calibration:
    """Raw count at zero load, and counts per gram (None until calibrated)."""

    offset: float = 0.0
    counts_per_gram: float | None = None

    def grams(self, raw: float) -> float:
        """Convert a raw count to grams."""
        if self.counts_per_gram is None:
            raise ScaleError("scale not calibrated: run tare, then calibrate with a known weight")
        return (raw - self.offset) / self.counts_per_gram

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read a calibration file; a missing file means not calibrated yet."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(offset=float(data["offset"]), counts_per_gram=data["counts_per_gram"])
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ScaleError(f"{path} is not a valid calibration file: {err}") from err

    def save(self, path: Path) -> None:
        """Write the calibration atomically (a power cut leaves the old file or the new)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(tmp, path)


class HX711Config(BaseModel):
    """A load cell on an HX711 amplifier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["hx711"] = Field("hx711", title="Driver", description="Selects this driver.")
    dout_pin: GpioPin = Field(title="DOUT pin", description="BCM pin wired to the HX711's DT.")
    sck_pin: GpioPin = Field(title="PD_SCK pin", description="BCM pin wired to the HX711's SCK.")
    gain: Literal[128, 64, 32] = Field(
        128, title="Gain", description="128 or 64 on channel A, 32 on channel B."
    )
    calibration_file: Path = Field(
        title="Calibration file",
        description="JSON holding the tare offset and counts per gram "
        "(e.g. /var/lib/canteen-edge/bin-plate-scale.json).",
    )
    samples: int = Field(
        3, ge=1, le=20, title="Samples", description="Conversions per weight (median)."
    )
    ready_timeout_s: float = Field(
        0.5, gt=0, le=5, title="Ready timeout (s)", description="How long to wait for DOUT."
    )
    max_pulse_us: float = Field(
        50.0,
        ge=1,
        lt=60,
        title="Longest pulse (µs)",
        description="Discard a read with a clock pulse longer than this (the chip's limit is 60).",
    )

    @model_validator(mode="after")
    def _distinct_pins(self) -> HX711Config:
        if self.dout_pin == self.sck_pin:
            raise ValueError("dout_pin and sck_pin must be different pins")
        return self


class HX711Scale:
    """A calibrated scale on an HX711: weights in grams, tare and calibration."""

    def __init__(self, chip: HX711, calibration_file: Path, *, samples: int = 3) -> None:
        self.chip = chip
        self.calibration_file = calibration_file
        self.calibration = Calibration.load(calibration_file)
        self.samples = samples
        self.discarded = 0

    @classmethod
    def from_config(cls, config: HX711Config, *, pin_factory: Any = None) -> HX711Scale:
        """Build the chip and scale a config describes."""
        chip = HX711(
            config.dout_pin,
            config.sck_pin,
            gain=config.gain,
            pin_factory=pin_factory,
            ready_timeout_s=config.ready_timeout_s,
            max_pulse_us=config.max_pulse_us,
        )
        try:
            return cls(chip, config.calibration_file, samples=config.samples)
        except Exception:
            chip.close()
            raise

    def read_counts(self, samples: int) -> list[int]:
        """Read `samples` conversions, retrying reads discarded as too slow."""
        counts: list[int] = []
        for _ in range(samples * 3):
            try:
                counts.append(self.chip.read_raw())
            except HX711TooSlow as err:
                self.discarded += 1
                logger.debug("%s", err)
                continue
            if len(counts) == samples:
                return counts
        raise HX711TooSlow(f"only {len(counts)} of {samples} reads were fast enough")

    def read(self) -> ScaleSample:
        """Return the median of `samples` conversions in grams."""
        return ScaleSample(
            self.calibration.grams(statistics.median(self.read_counts(self.samples)))
        )

    def tare(self, samples: int = 10) -> None:
        """Take the present load (the empty bin) as zero and save it."""
        offset = statistics.fmean(self.read_counts(samples))
        self.calibration = Calibration(offset, self.calibration.counts_per_gram)
        self.calibration.save(self.calibration_file)

    def calibrate(self, known_grams: float, samples: int = 10) -> float:
        """With a known weight on the tared scale, compute and save counts per gram."""
        if known_grams <= 0:
            raise ValueError("known_grams must be positive")
        delta = statistics.fmean(self.read_counts(samples)) - self.calibration.offset
        if abs(delta) < 10:
            raise ScaleError("the known weight moved the reading by almost nothing")
        self.calibration = Calibration(self.calibration.offset, delta / known_grams)
        self.calibration.save(self.calibration_file)
        return delta / known_grams

    def close(self) -> None:
        """Release the chip's pins."""
        self.chip.close()
