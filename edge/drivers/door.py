"""Cold-unit door switches: a reed switch on a GPIO pin, debounced in software.

Wiring: one side of the reed switch to a GPIO pin, the other to ground; the Pi's
internal pull-up holds the pin high while the switch is open. Which level means
"door open" depends on the switch: a "normally closed" door contact (closed while
the magnet is near, i.e. the door is shut) pulls the pin low when the door is shut,
so the door is open when the pin is high (`open_when: high`, the default).

Debouncing is done here, not left to the pin library: gpiozero hands `bounce_time`
to the pin factory and each treats it differently (lgpio filters in the kernel,
RPi.GPIO ignores edges for a while after one and can miss the final level, and
`MockPin` ignores it). `DoorDebouncer` accepts a level only once the pin has been
quiet for `bounce_ms`, and each poll re-reads the pin so a missed edge cannot leave
the reported state wrong.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.drivers import GpioPin
from protocol import DoorReading, Reading
from protocol.models import Slug

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DoorChange:
    """The door settled open or closed; `at` is when the first edge of the burst came."""

    at: float
    open: bool


class DoorDebouncer:
    """Turn a stream of timestamped raw levels into settled open/closed changes.

    Feed every edge with `edge(t, is_open)` and call `settle(now)` from time to time;
    a level counts once no edge has come for `bounce_s`. A burst that ends on the
    level it started from (a knock on the door) is no change at all.
    """

    def __init__(self, bounce_s: float, initial: bool) -> None:
        self.bounce_s = bounce_s
        self.state = initial
        self.pending: bool | None = None
        self._burst_start = 0.0
        self._last_edge = 0.0

    def edge(self, t: float, is_open: bool) -> list[DoorChange]:
        """Record a raw level change at monotonic time `t`; return changes it settles."""
        changes = self.settle(t)
        if self.pending is None:
            if is_open == self.state:
                return changes
            self._burst_start = t
        self.pending = is_open
        self._last_edge = t
        return changes

    def settle(self, now: float) -> list[DoorChange]:
        """Return the change confirmed by `now`, if the pin has been quiet long enough."""
        if self.pending is None or now - self._last_edge < self.bounce_s:
            return []
        level, self.pending = self.pending, None
        if level == self.state:
            return []
        self.state = level
        return [DoorChange(at=self._burst_start, open=level)]


class DoorSwitch:
    """A reed switch on a GPIO pin; queues its raw edges from gpiozero's callback thread."""

    def __init__(
        self,
        pin: int,
        *,
        open_when: Literal["high", "low"] = "high",
        bounce_s: float = 0.05,
        pin_factory: Any = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        from gpiozero import Button  # only where pins are used

        self._open_when_high = open_when == "high"
        self._monotonic = monotonic
        self._edges: deque[tuple[float, bool]] = deque(maxlen=1024)
        # pull_up=True: "pressed" (active) means the pin reads low.
        self._button = Button(
            pin, pull_up=True, bounce_time=bounce_s or None, pin_factory=pin_factory
        )
        self._button.when_activated = self._went_low
        self._button.when_deactivated = self._went_high

    def _went_low(self) -> None:
        self._edges.append((self._monotonic(), not self._open_when_high))

    def _went_high(self) -> None:
        self._edges.append((self._monotonic(), self._open_when_high))

    def is_open(self) -> bool:
        """Read the pin now: is the door open?"""
        high = not self._button.is_active
        return high if self._open_when_high else not high

    def take_edges(self) -> list[tuple[float, bool]]:
        """Return and forget the raw edges seen since the last call, as (t, is_open)."""
        edges = []
        while self._edges:
            edges.append(self._edges.popleft())
        return edges

    def close(self) -> None:
        """Release the pin."""
        self._button.close()


class DoorConfig(BaseModel):
    """A door switch on a fridge, freezer or cold room."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["door"] = Field("door", title="Driver", description="Selects this driver.")
    sensor: Slug = Field(title="Sensor", description="Slug of the cold unit, e.g. fridge-1.")
    pin: GpioPin = Field(title="GPIO pin", description="BCM number of the switch's pin.")
    open_when: Literal["high", "low"] = Field(
        "high",
        title="Open when",
        description="Pin level while the door is open: high for a normally closed contact "
        "(closed while the door is shut), low for a normally open one.",
    )
    bounce_ms: int = Field(
        50, ge=0, le=2000, title="Debounce (ms)", description="Quiet time before a level counts."
    )
    report_every_s: float = Field(
        300.0,
        gt=0,
        title="Report every (s)",
        description="Send the state at least this often even when it does not change.",
    )
    interval_s: float = Field(
        0.5, gt=0, le=60, title="Interval (s)", description="Seconds between polls."
    )

    @property
    def name(self) -> str:
        """The source's name: its sensor slug."""
        return self.sensor


class DoorSource:
    """Reading source for one door: a DoorReading per change, and one every `report_every_s`."""

    def __init__(
        self,
        config: DoorConfig,
        *,
        pin_factory: Any = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = config.sensor
        self.interval_s = config.interval_s
        self._report_every = timedelta(seconds=config.report_every_s)
        self._monotonic = monotonic
        self.switch = DoorSwitch(
            config.pin,
            open_when=config.open_when,
            bounce_s=config.bounce_ms / 1000,
            pin_factory=pin_factory,
            monotonic=monotonic,
        )
        self._debouncer = DoorDebouncer(config.bounce_ms / 1000, initial=self.switch.is_open())
        self._last_report: datetime | None = None

    @property
    def is_open(self) -> bool:
        """The settled state of the door."""
        return self._debouncer.state

    def poll(self, now: datetime) -> list[Reading]:
        """Return the settled changes since the last poll, or the periodic state report."""
        mono_now = self._monotonic()
        changes: list[DoorChange] = []
        for t, is_open in self.switch.take_edges():
            changes += self._debouncer.edge(t, is_open)
        changes += self._debouncer.settle(mono_now)
        level = self.switch.is_open()
        if self._debouncer.pending is None and level != self._debouncer.state:
            # An edge the pin layer dropped; it is confirmed by a later poll.
            logger.debug("door %s: resynchronising with the pin level", self.name)
            changes += self._debouncer.edge(mono_now, level)
        readings: list[Reading] = [
            DoorReading(
                sensor=self.name,
                ts=now - timedelta(seconds=max(0.0, mono_now - change.at)),
                open=change.open,
            )
            for change in changes
        ]
        if not readings and (
            self._last_report is None or now - self._last_report >= self._report_every
        ):
            readings.append(DoorReading(sensor=self.name, ts=now, open=self._debouncer.state))
        if readings:
            self._last_report = now
        return readings

    def close(self) -> None:
        """Release the pin."""
        self.switch.close()
