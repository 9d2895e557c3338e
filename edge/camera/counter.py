"""Count people crossing a line in an overhead view: frames in, crossings out.

Background subtraction (OpenCV's MOG2, shadows dropped) finds what moves; each moving
blob's area says how many people it holds; `CrossingTracker` follows the blobs and counts
who crosses the line. Frames live only in memory, one at a time: nothing here, or
anywhere in the people counter, writes or sends an image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.camera.config import Direction
from edge.camera.tracking import Blob, CountingLine, Crossings, CrossingTracker

Frame = npt.NDArray[np.uint8]
SHADOW_CUTOFF = 200
"""MOG2 marks shadows 127 and movement 255: keep only movement."""
SHADOW_DIMMING = 0.75
"""Pixels at 75-100 % of the floor's brightness are shadow (OpenCV's default, 50 %, eats
dark clothing)."""
LIGHTING_CHANGE = 0.6
"""A blob over this share of the view is the lights changing, not people."""


@dataclass(frozen=True, slots=True)
class CounterSettings:
    """How to look at the doorway; fractions are of the region of interest."""

    width: int = 320
    height: int = 240
    roi: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    """Left, top, right, bottom of the region watched, as fractions of the frame."""
    line_position: float = 0.5
    band: float = 0.12
    """Half-width of the band around the line inside which nobody changes side."""
    entering: Direction = "down"
    min_area: float = 0.02
    """Smallest blob that can be a person (fraction of the region's area)."""
    person_area: float = 0.08
    """Area one person covers, seen from above (fraction of the region's area)."""
    max_distance: float = 0.15
    """Furthest a person moves between processed frames (fraction of the region's diagonal)."""
    history: int = 300
    """Frames the background model remembers; someone standing still longer fades into it."""


class PeopleCounter:
    """Turns a stream of frames into crossings of the counting line."""

    def __init__(self, settings: CounterSettings) -> None:
        self.settings = settings
        x0, y0, x1, y1 = settings.roi
        self._crop = (
            round(y0 * settings.height),
            round(y1 * settings.height),
            round(x0 * settings.width),
            round(x1 * settings.width),
        )
        top, bottom, left, right = self._crop
        width, height = right - left, bottom - top
        if width < 16 or height < 16:
            raise ValueError("the region of interest is too small (under 16 pixels a side)")
        area = width * height
        self._min_area = settings.min_area * area
        self._person_area = settings.person_area * area
        self._max_area = LIGHTING_CHANGE * area
        horizontal = settings.entering in ("down", "up")
        extent = height if horizontal else width
        line = CountingLine(
            "horizontal" if horizontal else "vertical",
            settings.line_position * extent,
            settings.band * extent,
            entering_positive=settings.entering in ("down", "right"),
        )
        self.tracker = CrossingTracker(
            line, settings.max_distance * (width**2 + height**2) ** 0.5, (width, height)
        )
        self._background = cv2.createBackgroundSubtractorMOG2(
            history=settings.history, varThreshold=25, detectShadows=True
        )
        # A shadow only dims the floor a little; dark clothes dim it a lot and must count.
        self._background.setShadowThreshold(SHADOW_DIMMING)
        side = max(3, round(min(width, height) / 40)) | 1
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))

    def blobs(self, frame: Frame) -> list[Blob]:
        """What moves in this frame, one blob per separate shape."""
        settings = self.settings
        if frame.shape[1] != settings.width or frame.shape[0] != settings.height:
            frame = np.asarray(
                cv2.resize(frame, (settings.width, settings.height), interpolation=cv2.INTER_AREA),
                dtype=np.uint8,
            )
        top, bottom, left, right = self._crop
        view = frame[top:bottom, left:right]
        gray = cv2.cvtColor(view, cv2.COLOR_BGR2GRAY) if view.ndim == 3 else view
        gray = cv2.GaussianBlur(gray, (5, 5), 0)
        mask = self._background.apply(gray)
        _, mask = cv2.threshold(mask, SHADOW_CUTOFF, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        found = []
        for contour in contours:
            area = cv2.contourArea(contour)
            if not self._min_area <= area <= self._max_area:
                continue
            moments = cv2.moments(contour)
            people = min(4, max(1, round(area / self._person_area)))
            found.append(
                Blob(moments["m10"] / moments["m00"], moments["m01"] / moments["m00"], people)
            )
        return found

    def count(self, frame: Frame) -> Crossings:
        """Process one frame; return who crossed the line in it."""
        return self.tracker.update(self.blobs(frame))
