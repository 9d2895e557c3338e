"""Find the drops of food waste in a stream of weights from the scale under a bin.

Pure logic, no I/O. Each sample passes a short median filter (a knock or a single
spike does not survive it). The weight has *settled* when the filtered values of
the last `settle` seconds stay within `tolerance_g` (vibration, someone scraping
a plate, a hand leaning on the rim: none of these settle). Each settled level is
compared with the previous one, the baseline:

- higher by more than `min_drop_g`: a drop of the difference, and a new baseline;
- anything else (a smaller rise, a fall): the new baseline, with no drop. This
  follows the slow drift of a load cell, a hand that leaned and let go (it settles
  back where it was), and a bin emptied or lifted off (it settles lower). No drop
  is ever zero or negative. A rise slower than `tolerance_g` per `settle` is
  drift too.

A bin lifted off the scale settles below `lifted_below_g` (the scale is tared with
the empty bin on it, so no bin reads negative); the next settled level after that
is the bin put back and is taken as the new baseline, not as waste. Two drops with
a settle between them are two drops; two drops closer together than `settle` are
reported as one, combined. The first settled level is only a baseline.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class WasteDrop:
    """Waste that landed in the bin, in grams, when its weight settled."""

    grams: float
    at: datetime


@dataclass(frozen=True)
class DetectorSettings:
    """How the detector tells a drop from noise; defaults suit a 1-20 kg bin."""

    min_drop_g: float = 20.0
    tolerance_g: float = 5.0
    settle: timedelta = timedelta(seconds=2)
    median_window: int = 5
    lifted_below_g: float = -50.0
    min_samples: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.tolerance_g < self.min_drop_g:
            raise ValueError("tolerance_g must be positive and below min_drop_g")
        if self.settle <= timedelta(0) or self.median_window < 1 or self.min_samples < 2:
            raise ValueError("settle must be positive, median_window >= 1, min_samples >= 2")


class DropDetector:
    """Feed weights in time order; get a WasteDrop when one has settled."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self.baseline: float | None = None
        self.lifted = False
        self._raw: deque[float] = deque(maxlen=self.settings.median_window)
        self._window: deque[tuple[datetime, float]] = deque()
        self._last_at: datetime | None = None

    def feed(self, at: datetime, grams: float, *, stable: bool = True) -> WasteDrop | None:
        """Take one sample; `stable=False` (the scale's own flag) means not settled yet."""
        if not math.isfinite(grams) or (self._last_at is not None and at <= self._last_at):
            return None  # garbage, or time went backwards: ignore the sample
        self._last_at = at
        self._raw.append(grams)
        filtered = statistics.median(self._raw)
        if not stable:
            self._window.clear()
            return None
        self._window.append((at, filtered))
        level = self._settled_level(at)
        return None if level is None else self._settled(at, level)

    def _settled_level(self, now: datetime) -> float | None:
        window, settings = self._window, self.settings
        start = now - settings.settle
        # Keep exactly one sample at or before the start, so the window spans `settle`.
        while len(window) >= 2 and window[1][0] <= start:
            window.popleft()
        if window[0][0] > start or len(window) < settings.min_samples:
            return None
        values = [value for _, value in window]
        if max(values) - min(values) > settings.tolerance_g:
            return None
        return statistics.median(values)

    def _settled(self, at: datetime, level: float) -> WasteDrop | None:
        settings = self.settings
        previous, self.baseline = self.baseline, level
        was_lifted, self.lifted = self.lifted, level < settings.lifted_below_g
        if previous is None or was_lifted:
            return None
        rise = round(level - previous, 1)
        if rise > settings.min_drop_g:
            return WasteDrop(grams=rise, at=at)
        return None
