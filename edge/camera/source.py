"""The dining-room entrance camera as a reading source: occupancy every interval.

A thread reads frames from the camera (V4L2: a USB camera, or the Pi camera through
libcamera's V4L2 layer) or from a video file, and feeds every (1 + frame_skip)-th frame
to the `PeopleCounter`. `poll` returns one `OccupancyReading` per interval: people in
and out since the last one, and present now, which never goes below zero and is reset
each night at `reset_at`. Frames exist only in memory, one at a time; no frame is
written to disk or sent anywhere. While the camera gives no frames, no reading is sent,
so the hub sees the counter go silent instead of a room that looks empty.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from edge.camera.config import PeopleCounterConfig
from edge.camera.counter import CounterSettings, PeopleCounter
from protocol import OccupancyReading, Reading

logger = logging.getLogger(__name__)

REOPEN_MAX_S = 30.0


def counter_settings(config: PeopleCounterConfig) -> CounterSettings:
    """The counter's settings from the device config."""
    return CounterSettings(
        width=config.width,
        height=config.height,
        roi=config.roi,
        line_position=config.line_position,
        band=config.band,
        entering=config.entering,
        min_area=config.min_area,
        person_area=config.person_area,
        history=config.history,
    )


def _open_capture(camera: int | str, config: PeopleCounterConfig) -> Any:
    import cv2

    capture = (
        cv2.VideoCapture(camera, cv2.CAP_V4L2)
        if isinstance(camera, int)
        else cv2.VideoCapture(camera)
    )
    if capture.isOpened():
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        capture.set(cv2.CAP_PROP_FPS, config.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return capture


def _next_reset(now: datetime, at: time, tz: tzinfo | None) -> datetime:
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
    return candidate if candidate > local else candidate + timedelta(days=1)


class PeopleCounterSource:
    """Counts people at the entrance on a thread of its own; `poll` reports the counts."""

    def __init__(
        self,
        config: PeopleCounterConfig,
        *,
        tz: tzinfo | None = None,
        now: datetime,
        open_capture: Any = _open_capture,
    ) -> None:
        self.name = config.sensor
        self.interval_s = config.interval_s
        self._config = config
        self._tz = tz
        self._counter = PeopleCounter(counter_settings(config))
        self._open_capture = open_capture
        self._lock = threading.Lock()
        self._entered = self._exited = self._present = 0
        self._frames = 0
        self._next_reading = now + timedelta(seconds=config.interval_s)
        self._next_reset = _next_reset(now, config.reset_at, tz)
        self._stop = threading.Event()
        self.finished = threading.Event()
        """Set when a video file has been read to its end (never for a camera)."""
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    @property
    def frames_counted(self) -> int:
        """Frames given to the counter so far."""
        return self._frames

    def poll(self, now: datetime) -> list[Reading]:
        """An occupancy reading when one is due and the camera gave frames since the last."""
        with self._lock:
            if now >= self._next_reset:
                logger.info(
                    "%s: nightly reset, %d were still counted present", self.name, self._present
                )
                self._present = 0
                self._next_reset = _next_reset(now, self._config.reset_at, self._tz)
            if now < self._next_reading:
                return []
            self._next_reading = now + timedelta(seconds=self.interval_s)
            if self._frames == 0:
                return []
            reading = OccupancyReading(
                sensor=self.name,
                ts=now,
                entered=self._entered,
                exited=self._exited,
                present=self._present,
            )
            self._entered = self._exited = self._frames = 0
        return [reading]

    def close(self) -> None:
        """Stop reading the camera."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            capture = self._open_capture(self._config.camera, self._config)
            if not capture.isOpened():
                logger.error(
                    "%s: cannot open camera %r; is it plugged in, and is the service user in "
                    "the video group? Retrying in %.0f s",
                    self.name,
                    self._config.camera,
                    delay,
                )
            else:
                delay = 1.0
                ended = self._count_frames(capture)
                capture.release()
                if ended:
                    self.finished.set()
                    return
                logger.warning("%s: the camera stopped giving frames; reopening", self.name)
            self._stop.wait(delay)
            delay = min(delay * 2, REOPEN_MAX_S)

    def _count_frames(self, capture: Any) -> bool:
        """Count until stopped (False) or a video file ends (True)."""
        is_file = isinstance(self._config.camera, str) and not self._config.camera.startswith(
            "/dev/"
        )
        step = self._config.frame_skip + 1
        index = 0
        while not self._stop.is_set():
            if index % step:
                grabbed = capture.grab()
                frame = None
            else:
                grabbed, frame = capture.read()
            if not grabbed:
                return is_file
            index += 1
            if frame is None:
                continue
            crossings = self._counter.count(frame)
            del frame  # never kept beyond this step
            with self._lock:
                self._frames += 1
                self._entered += crossings.entered
                self._exited += crossings.exited
                self._present = max(0, self._present + crossings.entered - crossings.exited)
        return False
