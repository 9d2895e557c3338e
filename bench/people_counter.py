"""People counter benchmark: frames per second on one core, and counting accuracy.

    python bench/people_counter.py            # 3 runs of each setting
    python bench/people_counter.py --quick    # 1 run, shorter video

Frames come from the generated doorway video of the tests (54 crossings: alone, in twos
and threes, passing close, lingering), rendered into memory first so only the counter is
timed. The process is pinned to one CPU and OpenCV to one thread, as on a busy Pi. Each
setting reports the median frames per second of the runs with their spread, and how many
people it counted against the truth; the real overhead clip (bus.avi, if present beside
the repository) is timed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.camera.counter import CounterSettings, PeopleCounter  # noqa: E402
from tests.edge.camera.synthetic import PERSON_AREA, doorway_scene, render  # noqa: E402


@dataclass(frozen=True)
class Setting:
    """One way of running the counter."""

    label: str
    width: int
    height: int
    frame_skip: int = 0


SETTINGS = (
    Setting("320x240", 320, 240),
    Setting("320x240, every 2nd frame", 320, 240, 1),
    Setting("320x240, every 3rd frame", 320, 240, 2),
    Setting("640x480", 640, 480),
    Setting("640x480, every 2nd frame", 640, 480, 1),
)


def _frames(width: int, height: int, limit: int | None) -> list[np.ndarray]:
    frames = []
    for index, frame in enumerate(render(doorway_scene(7), 7)):
        if limit is not None and index >= limit:
            break
        if (width, height) != (frame.shape[1], frame.shape[0]):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        frames.append(frame)
    return frames


def _run(setting: Setting, frames: list[np.ndarray], person_area: float) -> tuple[float, int, int]:
    counter = PeopleCounter(
        CounterSettings(width=setting.width, height=setting.height, person_area=person_area)
    )
    entered = exited = processed = 0
    started = time.process_time()
    for index, frame in enumerate(frames):
        if index % (setting.frame_skip + 1):
            continue
        crossings = counter.count(frame)
        entered, exited, processed = (
            entered + crossings.entered,
            exited + crossings.exited,
            processed + 1,
        )
    seconds = time.process_time() - started
    return processed / seconds, entered, exited


def _real_video() -> list[np.ndarray]:
    for folder in [ROOT.parent, *ROOT.parents]:
        path = folder / "shared" / "data" / "video" / "bus.avi"
        if path.exists():
            capture = cv2.VideoCapture(str(path))
            frames = []
            while True:
                grabbed, frame = capture.read()
                if not grabbed:
                    return frames
                frames.append(frame)
    return []


def main() -> int:
    """Run every setting, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run on a shorter video")
    args = parser.parse_args()
    runs = 1 if args.quick else 3
    limit = 600 if args.quick else None
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    scene = doorway_scene(7)
    print(f"one core, OpenCV {cv2.__version__}, {runs} run(s) per setting", flush=True)
    print(
        "| setting | frames/s counted (median) | spread | camera fps it keeps up with "
        "| counted in / out | truth |"
    )
    print("|---|---|---|---|---|---|")
    cache: dict[tuple[int, int], list[np.ndarray]] = {}
    for setting in SETTINGS:
        frames = cache.setdefault(
            (setting.width, setting.height), _frames(setting.width, setting.height, limit)
        )
        results = [_run(setting, frames, PERSON_AREA) for _ in range(runs)]
        rates = [rate for rate, _, _ in results]
        _, entered, exited = results[0]
        truth = f"{scene.entered} / {scene.exited}" if limit is None else "(partial video)"
        print(
            f"| {setting.label} | {statistics.median(rates):.0f} | "
            f"{min(rates):.0f}-{max(rates):.0f} | "
            f"{statistics.median(rates) * (setting.frame_skip + 1):.0f} | "
            f"{entered} / {exited} | {truth} |",
            flush=True,
        )
    real = _real_video()
    if real:
        setting = Setting("bus.avi (real, 320x240)", 320, 240)
        results = [_run(setting, real, 0.15) for _ in range(runs)]
        rates = [rate for rate, _, _ in results]
        _, entered, exited = results[0]
        print(
            f"| {setting.label} | {statistics.median(rates):.0f} | "
            f"{min(rates):.0f}-{max(rates):.0f} | {statistics.median(rates):.0f} | "
            f"{entered} / {exited} | 7 / 7 (by hand) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
