"""The people counter's settings in a device file (validated without loading OpenCV)."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.models import Slug

Direction = Literal["down", "up", "right", "left"]


class PeopleCounterConfig(BaseModel):
    """The people counter at the dining-room door (see docs/people-counter.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["people_counter"] = Field(
        "people_counter", title="Driver", description="Selects this driver."
    )
    sensor: Slug = Field(title="Sensor", description="Slug of the entrance, e.g. dining-main.")
    camera: int | str = Field(
        0,
        title="Camera",
        description="V4L2 index (0 is /dev/video0), a device path, or a video file to replay.",
    )
    width: int = Field(320, ge=64, le=1920, title="Width (px)", description="Frame width.")
    height: int = Field(240, ge=48, le=1080, title="Height (px)", description="Frame height.")
    fps: float = Field(15, gt=0, le=60, title="Camera fps", description="Frames per second asked.")
    frame_skip: int = Field(
        0, ge=0, le=10, title="Frames skipped", description="Skip this many frames after each one."
    )
    roi: tuple[float, float, float, float] = Field(
        (0.0, 0.0, 1.0, 1.0),
        title="Region of interest",
        description="Left, top, right, bottom of the watched area, as fractions of the frame.",
    )
    entering: Direction = Field(
        "down", title="Entering", description="Which way people move in the image when entering."
    )
    line_position: float = Field(
        0.5, gt=0, lt=1, title="Line position", description="Where the counting line is (0-1)."
    )
    band: float = Field(
        0.12, ge=0, lt=0.4, title="Band", description="Half-width of the no-change band (0-1)."
    )
    min_area: float = Field(
        0.02, gt=0, lt=1, title="Smallest person", description="Share of the view (0-1)."
    )
    person_area: float = Field(
        0.12, gt=0, lt=1, title="One person", description="Share of the view one person covers."
    )
    history: int = Field(
        300, ge=10, le=10000, title="Background memory", description="Frames remembered."
    )
    interval_s: float = Field(
        60.0, ge=1, le=3600, title="Interval (s)", description="Seconds between readings."
    )
    reset_at: time = Field(
        time(3, 0), title="Nightly reset", description="Local time when 'present' goes to 0."
    )

    @model_validator(mode="after")
    def _roi_is_a_box(self) -> PeopleCounterConfig:
        left, top, right, bottom = self.roi
        if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
            raise ValueError("roi must be left, top, right, bottom with 0 <= left < right <= 1")
        if self.min_area >= self.person_area:
            raise ValueError("min_area must be smaller than person_area")
        return self

    @property
    def name(self) -> str:
        """The source's name: its sensor slug."""
        return self.sensor
