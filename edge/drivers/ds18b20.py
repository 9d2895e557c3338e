"""DS18B20 1-Wire temperature probes, read through the kernel's w1-therm sysfs files.

With `dtoverlay=w1-gpio` the kernel lists each probe as
`/sys/bus/w1/devices/28-xxxxxxxxxxxx/`. Opening and reading its `w1_slave` file
starts a conversion (about 750 ms at 12-bit resolution) and returns two lines:

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

the nine scratchpad bytes with the CRC the kernel computed and whether it matched,
then the same bytes and the temperature in millidegrees Celsius. Values that are
not temperatures are refused here, never passed on: a CRC mismatch, the 85.000 °C
power-on reset value (a probe that lost power mid-conversion), -127 °C and an
all-zero scratchpad (nothing answering: a broken wire or a shorted data line), and
a vanished device directory (the bus master no longer finds the probe).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.drivers import LogThrottle
from protocol import Reading, TemperatureReading
from protocol.models import Slug

logger = logging.getLogger(__name__)

W1_ROOT = Path("/sys/bus/w1/devices")
POWER_ON_RESET_MILLI_C = 85_000
DISCONNECTED_MILLI_C = -127_000
MIN_CELSIUS, MAX_CELSIUS = -55.0, 125.0  # the DS18B20's rated range
ADDRESS_PATTERN = r"^(10|22|28|3b|42)-[0-9a-f]{12}$"  # w1-therm family codes
_TEMPERATURE = re.compile(r"t=(-?\d+)\s*$")


class FaultReason(StrEnum):
    """Why a probe gave no temperature."""

    CRC = "crc"
    MALFORMED = "malformed"
    POWER_ON_RESET = "power_on_reset"
    DISCONNECTED = "disconnected"
    MISSING = "missing"
    IO_ERROR = "io_error"
    OUT_OF_RANGE = "out_of_range"


class ProbeFault(Exception):
    """A probe read that gave no trustworthy temperature, with the reason."""

    def __init__(self, reason: FaultReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_w1_slave(text: str) -> int:
    """Return the millidegrees in a `w1_slave` text, or raise ProbeFault saying why not."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 2:
        raise ProbeFault(FaultReason.MALFORMED, f"expected two lines, got {text!r}")
    crc_line, data_line = lines[0], lines[1]
    if crc_line.endswith("NO"):
        raise ProbeFault(FaultReason.CRC, f"CRC mismatch: {crc_line!r}")
    if not crc_line.endswith("YES") or ":" not in crc_line:
        raise ProbeFault(FaultReason.MALFORMED, f"no CRC verdict in {crc_line!r}")
    scratchpad = crc_line.split(":", 1)[0].split()
    if len(scratchpad) != 9:
        raise ProbeFault(FaultReason.MALFORMED, f"expected 9 bytes in {crc_line!r}")
    if all(byte == "00" for byte in scratchpad) or all(byte == "ff" for byte in scratchpad):
        raise ProbeFault(FaultReason.DISCONNECTED, f"blank scratchpad {crc_line!r}")
    match = _TEMPERATURE.search(data_line)
    if match is None:
        raise ProbeFault(FaultReason.MALFORMED, f"no t= value in {data_line!r}")
    milli_c = int(match.group(1))
    if milli_c == DISCONNECTED_MILLI_C:
        raise ProbeFault(FaultReason.DISCONNECTED, "-127 °C: probe not answering")
    if milli_c == POWER_ON_RESET_MILLI_C:
        raise ProbeFault(FaultReason.POWER_ON_RESET, "85 °C power-on reset value")
    return milli_c


def to_celsius(milli_c: int, offset_c: float) -> float:
    """Apply the probe's calibration offset and check the result is a real reading."""
    celsius = round(milli_c / 1000 + offset_c, 3)
    if not MIN_CELSIUS - 1 <= celsius <= MAX_CELSIUS + 1:
        raise ProbeFault(FaultReason.OUT_OF_RANGE, f"{celsius} °C is outside the probe's range")
    return celsius


def discover_probes(root: Path = W1_ROOT) -> list[str]:
    """List the addresses of the temperature probes the kernel has found."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if re.match(ADDRESS_PATTERN, p.name))


class DS18B20Probe:
    """One probe on the 1-Wire bus; `read` retries bad reads before giving up."""

    def __init__(
        self,
        address: str,
        *,
        root: Path = W1_ROOT,
        offset_c: float = 0.0,
        retries: int = 3,
        retry_delay_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.address = address
        self.path = root / address / "w1_slave"
        self.offset_c = offset_c
        self._retries = retries
        self._retry_delay_s = retry_delay_s
        self._sleep = sleep

    def read_once(self) -> float:
        """Read the probe once; return calibrated °C or raise ProbeFault."""
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError as err:
            raise ProbeFault(FaultReason.MISSING, f"{self.path} is gone") from err
        except UnicodeDecodeError as err:
            raise ProbeFault(FaultReason.MALFORMED, f"{self.path}: not ASCII") from err
        except OSError as err:
            raise ProbeFault(FaultReason.IO_ERROR, f"{self.path}: {err}") from err
        return to_celsius(parse_w1_slave(text), self.offset_c)

    def read(self) -> float:
        """Read the probe, retrying a bad read `retries` times; raise the last fault."""
        for attempt in range(self._retries + 1):
            try:
                return self.read_once()
            except ProbeFault as fault:
                # A vanished directory will not come back within a second.
                if fault.reason is FaultReason.MISSING or attempt == self._retries:
                    raise
                logger.debug("probe %s: %s, retrying", self.address, fault)
                self._sleep(self._retry_delay_s)
        raise AssertionError("unreachable")  # pragma: no cover


class DS18B20Config(BaseModel):
    """A DS18B20 probe in a fridge, freezer or cold room."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ds18b20"] = Field("ds18b20", title="Driver", description="Selects this driver.")
    sensor: Slug = Field(title="Sensor", description="Slug of the cold unit, e.g. fridge-1.")
    address: str = Field(
        title="1-Wire address",
        description="Directory name under /sys/bus/w1/devices, e.g. 28-0316a2795eff.",
        pattern=ADDRESS_PATTERN,
    )
    offset_c: float = Field(
        0.0,
        ge=-10,
        le=10,
        title="Calibration offset (°C)",
        description="Added to every reading; from an ice-bath check against a reference.",
    )
    interval_s: float = Field(
        30.0, gt=0, le=3600, title="Interval (s)", description="Seconds between reads."
    )
    retries: int = Field(
        3, ge=0, le=10, title="Retries", description="Extra attempts after a bad read."
    )
    retry_delay_s: float = Field(
        0.25, ge=0, le=5, title="Retry delay (s)", description="Pause before a retry."
    )

    @property
    def name(self) -> str:
        """The source's name: its sensor slug."""
        return self.sensor


TemperatureObserver = Callable[[TemperatureReading], None]


class DS18B20Source:
    """Reading source for one probe: a TemperatureReading per poll, or a recorded fault.

    `observer`, if given, sees every good reading at once, on the polling thread; the
    local alarm hangs off it so it keeps working with the network down.
    """

    def __init__(
        self,
        config: DS18B20Config,
        *,
        root: Path = W1_ROOT,
        sleep: Callable[[float], None] = time.sleep,
        observer: TemperatureObserver | None = None,
    ) -> None:
        self.name = config.sensor
        self.interval_s = config.interval_s
        self.probe = DS18B20Probe(
            config.address,
            root=root,
            offset_c=config.offset_c,
            retries=config.retries,
            retry_delay_s=config.retry_delay_s,
            sleep=sleep,
        )
        self.observer = observer
        self.faults = 0
        self.consecutive_faults = 0
        self.last_fault: ProbeFault | None = None
        self.last_fault_at: datetime | None = None
        self._throttle = LogThrottle(timedelta(minutes=10))

    @property
    def healthy(self) -> bool:
        """Tell whether the latest read gave a temperature."""
        return self.consecutive_faults == 0

    @property
    def fault(self) -> str | None:
        """Why the latest read gave no temperature (e.g. `crc: CRC mismatch`); None if it did."""
        if self.consecutive_faults == 0 or self.last_fault is None:
            return None
        return str(self.last_fault)

    def poll(self, now: datetime) -> list[Reading]:
        """Read the probe; return one reading, or none if the probe is at fault."""
        try:
            celsius = self.probe.read()
        except ProbeFault as fault:
            self.faults += 1
            self.consecutive_faults += 1
            self.last_fault, self.last_fault_at = fault, now
            self._throttle.warn(
                logger, now, "probe %s (%s): %s", self.name, self.probe.address, fault
            )
            return []
        if self.consecutive_faults:
            logger.info("probe %s reads again after %d faults", self.name, self.consecutive_faults)
            self.consecutive_faults = 0
            self._throttle.reset()
        reading = TemperatureReading(sensor=self.name, ts=now, celsius=celsius)
        if self.observer is not None:
            try:
                self.observer(reading)
            except Exception:
                logger.exception("observer of probe %s failed", self.name)
        return [reading]

    def close(self) -> None:
        """Nothing to release: each read opens and closes the sysfs file."""
