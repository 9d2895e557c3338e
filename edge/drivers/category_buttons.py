"""Category buttons beside a waste bin: press "prep" or "spoilage" before scraping in.

Each button goes from a GPIO pin to ground (internal pull-up). The last category
pressed applies to the next drop the scale detects within `timeout_s` of the
press; a drop with no recent press takes the bin's default category. A press is
used once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.drivers import GpioPin, utc_now
from protocol import WasteCategory

logger = logging.getLogger(__name__)


class CategorySelector:
    """Remember the last category pressed and hand it to the next drop in time."""

    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout
        self._pressed: tuple[WasteCategory, datetime] | None = None

    def press(self, category: WasteCategory, at: datetime) -> None:
        """Record a press; it replaces any earlier one."""
        self._pressed = (category, at)

    def take(self, drop_at: datetime) -> WasteCategory | None:
        """Return the category for a drop detected at `drop_at`, using up the press."""
        if self._pressed is None:
            return None
        category, at = self._pressed
        if at > drop_at:
            return None  # pressed after this drop: it is for the next one
        self._pressed = None
        return category if drop_at - at <= self.timeout else None


class CategoryButtonConfig(BaseModel):
    """One category button."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pin: GpioPin = Field(title="GPIO pin", description="BCM pin of a button to ground.")
    category: WasteCategory = Field(title="Category", description="What the next drop is.")


class CategoryButtons:
    """The gpiozero buttons of one bin feeding a CategorySelector."""

    def __init__(
        self,
        buttons: Sequence[CategoryButtonConfig],
        *,
        timeout_s: float = 60.0,
        pin_factory: Any = None,
        clock: Callable[[], datetime] = utc_now,
        bounce_s: float = 0.05,
    ) -> None:
        from gpiozero import Button  # only where pins are used

        self._clock = clock
        self._lock = threading.Lock()
        self.selector = CategorySelector(timedelta(seconds=timeout_s))
        self._buttons: list[Any] = []
        try:
            for spec in buttons:
                button = Button(
                    spec.pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory
                )
                self._buttons.append(button)
                button.when_pressed = partial(self._pressed, spec.category)
        except Exception:
            self.close()
            raise

    def _pressed(self, category: WasteCategory) -> None:
        at = self._clock()
        with self._lock:
            self.selector.press(category, at)
        logger.info("category button: %s", category)

    def category_for(self, drop_at: datetime) -> WasteCategory | None:
        """Return the pressed category that applies to a drop at `drop_at`, if any."""
        with self._lock:
            return self.selector.take(drop_at)

    def close(self) -> None:
        """Release the pins."""
        for button in self._buttons:
            button.close()
        self._buttons.clear()
