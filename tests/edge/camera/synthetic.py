"""Generated overhead videos of a doorway with known crossings, for the people counter.

People seen from above are ellipses (shoulders) with a darker circle (head), walking
down (entering) or up (leaving) across a horizontal line in the middle of the frame, on
a textured floor with sensor noise. The scenes include people alone, groups of two and
three walking shoulder to shoulder (one merged blob), people passing close to each
other in opposite directions, and people who stop on the line for a while and then
turn back or go on. Each scene knows exactly how many people crossed each way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT = 320, 240
LINE_Y = HEIGHT / 2
RX, RY = 40, 30
"""Half-axes of one person's ellipse, pixels at 320x240."""
PERSON_AREA = math.pi * RX * RY / (WIDTH * HEIGHT)
"""One person's share of the frame, as an installer would measure it."""
Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Walker:
    """One person's path: where and when they appear, which way they go, and pauses."""

    x: float
    start: int
    speed: float
    down: bool
    colour: tuple[int, int, int]
    linger_frames: int = 0
    turn_back: bool = False

    def y(self, frame: int) -> float | None:
        """Centre height at a frame, or None when off screen."""
        t = frame - self.start
        if t < 0:
            return None
        top, bottom = -RY - 5.0, HEIGHT + RY + 5.0
        begin = top if self.down else bottom
        direction = 1 if self.down else -1
        to_line = abs(LINE_Y - begin) / self.speed
        if self.linger_frames and t >= to_line:
            stopped = t - to_line
            if stopped < self.linger_frames:  # shuffle about on the line
                return LINE_Y + 6 * math.sin(stopped / 4)
            t -= self.linger_frames
            if self.turn_back:
                y = LINE_Y - direction * (t - to_line) * self.speed
                return y if top <= y <= bottom else None
        y = begin + direction * t * self.speed
        return y if top <= y <= bottom else None


@dataclass(frozen=True)
class Scene:
    """A generated video: its walkers, length, and the true counts."""

    walkers: tuple[Walker, ...]
    frames: int
    entered: int
    exited: int


def _colour(rng: random.Random) -> tuple[int, int, int]:
    dark = rng.random() < 0.5
    base = rng.randint(20, 70) if dark else rng.randint(180, 240)
    return tuple(max(0, min(255, base + rng.randint(-25, 25))) for _ in range(3))  # type: ignore[return-value]


def doorway_scene(seed: int = 7) -> Scene:
    """About 55 crossings: alone, in twos and threes, passing close, lingering."""
    rng = random.Random(seed)
    walkers: list[Walker] = []
    entered = exited = 0
    t = 10  # frames for the background model to settle

    def add(x: float, down: bool, speed: float, **extra: object) -> None:
        walkers.append(Walker(x, t, speed, down, _colour(rng), **extra))  # type: ignore[arg-type]

    for i in range(20):  # alone, two lanes at a time, alternating directions
        lane = 70 if i % 2 == 0 else 250
        down = (i // 2) % 2 == 0
        add(lane + rng.uniform(-10, 10), down, rng.uniform(6, 10))
        entered, exited = entered + down, exited + (not down)
        t += 24 if i % 2 == 0 else 20
    for size, repeats in ((2, 7), (3, 4)):  # shoulder to shoulder
        for i in range(repeats):
            down = i % 2 == 0
            speed = rng.uniform(6, 8)
            first = WIDTH / 2 - (size - 1) * (RX * 2 - 8) / 2
            for k in range(size):
                add(first + k * (RX * 2 - 8), down, speed)
            entered, exited = entered + size * down, exited + size * (not down)
            t += 55
    for _ in range(3):  # passing close, opposite ways (a quarter of a body apart)
        gap = 2 * RX + 20
        speed = rng.uniform(6, 9)
        add(WIDTH / 2 - gap / 2, True, speed)
        add(WIDTH / 2 + gap / 2, False, speed)
        entered, exited = entered + 1, exited + 1
        t += 55
    for turn_back in (True, True, False, False):  # stop on the line, then back or on
        add(WIDTH / 2 + rng.uniform(-30, 30), True, 7, linger_frames=40, turn_back=turn_back)
        entered += not turn_back
        t += 95
    return Scene(tuple(walkers), t + 60, entered, exited)


def _floor(rng: np.random.Generator) -> Frame:
    floor = np.full((HEIGHT, WIDTH, 3), (110, 120, 125), np.uint8)
    floor = cv2.add(floor, rng.integers(0, 18, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    for x in range(0, WIDTH, 40):  # tile joints
        cv2.line(floor, (x, 0), (x, HEIGHT), (90, 95, 100), 1)
    for y in range(0, HEIGHT, 40):
        cv2.line(floor, (0, y), (WIDTH, y), (90, 95, 100), 1)
    return floor


def render(scene: Scene, seed: int = 3) -> Iterator[Frame]:
    """The scene's frames, one at a time (BGR, 320x240)."""
    rng = np.random.default_rng(seed)
    floor = _floor(rng)
    for frame_no in range(scene.frames):
        frame = floor.copy()
        for walker in scene.walkers:
            y = walker.y(frame_no)
            if y is None:
                continue
            centre = (round(walker.x), round(y))
            cv2.ellipse(frame, centre, (RX, RY), 0, 0, 360, walker.colour, -1)
            head = tuple(max(0, c - 40) for c in walker.colour)
            cv2.circle(frame, centre, RY - 8, head, -1)
        noise = rng.normal(0, 3, frame.shape)
        yield np.clip(frame + noise, 0, 255).astype(np.uint8)


def write_video(scene: Scene, path: str, fps: float = 15.0) -> None:
    """Write the scene as an MJPEG AVI, as a USB camera would deliver it."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MJPEG AVI files here")
    for frame in render(scene):
        writer.write(frame)
    writer.release()


def one_way_scene(people: int, down: bool, seed: int = 1) -> Scene:
    """`people` walking one way, one after another, in alternating lanes."""
    rng = random.Random(seed)
    walkers = tuple(
        Walker(70 if i % 2 == 0 else 250, 10 + 30 * i, 8, down, _colour(rng)) for i in range(people)
    )
    frames = 10 + 30 * people + 60
    return Scene(walkers, frames, people if down else 0, 0 if down else people)


def two_way_scene(people: int, seed: int = 1) -> Scene:
    """`people` one after another in alternating lanes, going in and out by turns (short)."""
    rng = random.Random(seed)
    walkers = tuple(
        Walker(70 if i % 2 == 0 else 250, 10 + 30 * i, 8, i % 2 == 0, _colour(rng))
        for i in range(people)
    )
    entered = sum(w.down for w in walkers)
    return Scene(walkers, 10 + 30 * people + 60, entered, people - entered)
