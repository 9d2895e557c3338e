"""Bench scales with an RS-232/USB serial port that print one weight a line.

Most kitchen bench scales (A&D, Ohaus, many OEM indicators) speak a variant of
one ASCII line format, sent continuously or on request:

    ST,GS,+  1.234kg     stable, gross weight
    US,NT,-    12.5 g    unstable, net weight
    OL,GS,+  ----- kg    overload

a status (`ST` stable, `US` unstable, `OL` overload), an optional mode (`GS`
gross, `NT` net, `TR` tare), then a signed number and the unit (`kg` or `g`),
ended by CR LF. `parse_scale_line` reads one line; `SerialScale` reads whatever
the port has without blocking and keeps the latest weight.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from edge.drivers import ScaleError, ScaleSample

logger = logging.getLogger(__name__)

_LINE = re.compile(
    r"(?P<status>ST|US|OL)\s*,\s*(?:(?P<mode>GS|NT|TR)\s*,\s*)?"
    r"(?P<sign>[+-])?\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>kg|g)",
    re.IGNORECASE,
)
_GRAMS_PER_UNIT = {"kg": 1000.0, "g": 1.0}
MAX_LINE = 256  # a line longer than this is noise on the wire


class ScaleLineError(ScaleError):
    """A line from the scale that is not a weight."""


class ScaleOverload(ScaleLineError):
    """The scale reports a load beyond its capacity."""


def parse_scale_line(line: str) -> ScaleSample:
    """Parse one `ST,GS,+  1.234kg` line into grams and the stable flag."""
    text = line.strip()
    if text[:2].upper() == "OL":
        raise ScaleOverload(f"scale overloaded: {text!r}")
    match = _LINE.fullmatch(text)
    if match is None:
        raise ScaleLineError(f"not a weight line: {text!r}")
    grams = float(match["number"]) * _GRAMS_PER_UNIT[match["unit"].lower()]
    if match["sign"] == "-":
        grams = -grams
    return ScaleSample(grams=round(grams, 3), stable=match["status"].upper() == "ST")


class SerialPort(Protocol):
    """The part of a pyserial port the scale uses."""

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""
        ...

    def read(self, size: int = 1) -> bytes:
        """Read up to `size` bytes."""
        ...

    def write(self, data: bytes, /) -> int | None:
        """Write bytes."""
        ...

    def close(self) -> None:
        """Close the port."""
        ...


class SerialScaleConfig(BaseModel):
    """A bench scale on a serial port."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["serial_scale"] = Field(
        "serial_scale", title="Driver", description="Selects this driver."
    )
    port: str = Field(title="Port", description="Device such as /dev/ttyUSB0, or a pyserial URL.")
    baudrate: int = Field(
        9600, ge=300, le=921600, title="Baud rate", description="As set on the scale."
    )
    bytesize: Literal[7, 8] = Field(8, title="Data bits", description="As set on the scale.")
    parity: Literal["N", "E", "O"] = Field("N", title="Parity", description="N, E or O.")
    stopbits: Literal[1, 2] = Field(1, title="Stop bits", description="1 or 2.")
    tare_command: str | None = Field(
        "T\r\n", title="Tare command", description='Sent to tare, e.g. "T\\r\\n"; null if none.'
    )
    request_command: str | None = Field(
        None,
        title="Request command",
        description='Sent before each read to a scale that answers on request, e.g. "Q\\r\\n"; '
        "null for a scale that streams.",
    )


def open_serial_port(config: SerialScaleConfig) -> SerialPort:
    """Open the configured port without blocking reads."""
    import serial  # only where a serial scale is configured

    port: SerialPort = serial.serial_for_url(
        config.port,
        baudrate=config.baudrate,
        bytesize=config.bytesize,
        parity=config.parity,
        stopbits=config.stopbits,
        timeout=0,
    )
    return port


class SerialScale:
    """A streaming or on-request serial scale; `read` never blocks."""

    def __init__(
        self,
        port: SerialPort,
        *,
        tare_command: str | None = "T\r\n",
        request_command: str | None = None,
    ) -> None:
        self.port = port
        self._tare = tare_command.encode("ascii") if tare_command else None
        self._request = request_command.encode("ascii") if request_command else None
        self._buffer = b""
        self.bad_lines = 0

    @classmethod
    def from_config(cls, config: SerialScaleConfig, *, port: Any = None) -> SerialScale:
        """Open (or take) the port a config names."""
        return cls(
            port if port is not None else open_serial_port(config),
            tare_command=config.tare_command,
            request_command=config.request_command,
        )

    def _lines(self) -> list[bytes]:
        waiting = self.port.in_waiting
        if waiting:
            self._buffer += self.port.read(waiting)
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_LINE:
            logger.warning("serial scale: dropping %d bytes with no line end", len(self._buffer))
            self._buffer = b""
        return lines

    def read(self) -> ScaleSample | None:
        """Return the newest weight the scale has sent since the last call, if any."""
        latest: ScaleSample | None = None
        overload: ScaleOverload | None = None
        for raw in self._lines():
            line = raw.decode("ascii", errors="replace").strip()
            if not line:
                continue
            try:
                latest, overload = parse_scale_line(line), None
            except ScaleOverload as err:
                overload = err
            except ScaleLineError as err:
                self.bad_lines += 1
                logger.debug("serial scale: %s", err)
        if self._request is not None:
            self.port.write(self._request)  # answered by the next call
        if overload is not None:
            raise overload
        return latest

    def tare(self) -> None:
        """Send the tare command."""
        if self._tare is None:
            raise ScaleError("this scale has no tare_command configured")
        self.port.write(self._tare)

    def close(self) -> None:
        """Close the port."""
        self.port.close()
