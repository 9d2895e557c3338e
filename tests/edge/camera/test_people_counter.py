"""The people counter on generated doorway videos with known crossings, and on a real one."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest

from edge.camera.config import PeopleCounterConfig
from edge.camera.counter import CounterSettings, PeopleCounter
from edge.camera.source import PeopleCounterSource
from tests.edge.camera.synthetic import (
    HEIGHT,
    PERSON_AREA,
    WIDTH,
    Frame,
    Scene,
    Walker,
    doorway_scene,
    one_way_scene,
    render,
    two_way_scene,
    write_video,
)
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
REAL_VIDEO = "data/video/bus.avi"


def _count(
    scene: Scene,
    seed: int,
    frame_skip: int = 0,
    settings: Sequence[CounterSettings] = (CounterSettings(person_area=PERSON_AREA),),
    change: Callable[[Frame, int], Frame] = lambda frame, _: frame,
) -> list[tuple[int, int]]:
    """Entered and exited as counted with each of `settings`, rendering the video once."""
    counters = [PeopleCounter(one) for one in settings]
    totals = [(0, 0)] * len(counters)
    for index, frame in enumerate(render(scene, seed)):
        if index % (frame_skip + 1):
            continue
        seen = change(frame, index)
        for n, counter in enumerate(counters):
            crossings = counter.count(seen)
            totals[n] = (totals[n][0] + crossings.entered, totals[n][1] + crossings.exited)
    return totals


CORRIDOR = tuple(Walker(WIDTH + 80, 25 + 45 * k, 8, True, (40, 45, 50)) for k in range(8))
"""People walking past in a corridor beside the door, never through it."""


def _beside_a_corridor(frame: Frame, index: int) -> Frame:
    """The doorway with a corridor 160 px wide to its right, where people walk by."""
    wide = np.full((HEIGHT, WIDTH + 160, 3), (110, 120, 125), np.uint8)
    wide[:, :WIDTH] = frame
    for walker in CORRIDOR:
        y = walker.y(index)
        if y is not None:
            cv2.ellipse(wide, (round(walker.x), round(y)), (40, 30), 0, 0, 360, walker.colour, -1)
    return wide


def test_a_region_of_interest_keeps_out_what_moves_beside_the_door(
    report_accuracy: Callable[[str], None],
) -> None:
    scene = two_way_scene(12)
    roi = (0.0, 0.0, WIDTH / (WIDTH + 160), 1.0)
    size = {"width": WIDTH + 160, "height": HEIGHT, "person_area": PERSON_AREA}
    cropped, whole = _count(
        scene,
        3,
        settings=(CounterSettings(roi=roi, **size), CounterSettings(**size)),  # type: ignore[arg-type]
        change=_beside_a_corridor,
    )
    report_accuracy(
        f"roi beside a corridor: counted {cropped[0]} / {cropped[1]}, without roi {whole}"
    )
    assert cropped == (scene.entered, scene.exited)
    assert whole[0] > cropped[0]  # without the region the corridor counts as coming in


def test_a_camera_giving_larger_frames_is_shrunk_to_the_set_resolution() -> None:
    scene = two_way_scene(12, seed=2)
    [counted] = _count(scene, 3, change=lambda frame, _: cv2.resize(frame, (640, 480)))
    assert counted == (scene.entered, scene.exited)


@pytest.mark.parametrize("seed", [7, 2, 5])
def test_generated_doorway_videos_are_counted_exactly(
    seed: int, report_accuracy: Callable[[str], None]
) -> None:
    scene = doorway_scene(seed)
    assert scene.entered + scene.exited >= 50  # alone, in groups, passing close, lingering
    [(entered, exited)] = _count(scene, seed)
    errors = abs(entered - scene.entered) + abs(exited - scene.exited)
    accuracy = 1 - errors / (scene.entered + scene.exited)
    report_accuracy(
        f"seed {seed}: {scene.entered} in / {scene.exited} out, counted {entered} / {exited} "
        f"({accuracy:.0%})",
    )
    assert (entered, exited) == (scene.entered, scene.exited)


def test_processing_every_second_frame_still_counts_within_one_person(
    report_accuracy: Callable[[str], None],
) -> None:
    scene = doorway_scene(7)
    [(entered, exited)] = _count(scene, 7, frame_skip=1)
    report_accuracy(f"frame_skip 1: counted {entered} / {exited}")
    assert abs(entered - scene.entered) + abs(exited - scene.exited) <= 1


def _shared_video() -> Path | None:
    for folder in [REPO.parent, *REPO.parents]:
        candidate = folder / "shared" / REAL_VIDEO
        if candidate.exists():
            return candidate
    named = os.environ.get("CANTEEN_PEOPLE_VIDEO")
    return Path(named) if named else None


def test_a_real_overhead_recording_matches_the_hand_count(
    report_accuracy: Callable[[str], None],
) -> None:
    """bus.avi: 947 frames, 320x240, 15 fps, from a camera above a corridor.

    Counted by hand from frame montages: 7 people walk down across the middle (frames
    about 312, 363, 398, 598, 622, 826, 892) and 7 walk up (about 171, 193, 237, 505
    twice, 765, 829). People in this clip cover about 15 % of the frame each, so
    person_area is set to 0.15, as an installer would after watching a few pass.
    """
    video = _shared_video()
    if video is None:
        pytest.skip(
            f"the recorded video ({REAL_VIDEO}) lives in the shared folder beside the "
            "repository and is not present here; set CANTEEN_PEOPLE_VIDEO to its path"
        )
    capture = cv2.VideoCapture(str(video))
    counter = PeopleCounter(CounterSettings(person_area=0.15))
    entered = exited = frames = 0
    while True:
        grabbed, frame = capture.read()
        if not grabbed:
            break
        crossings = counter.count(frame)
        entered, exited, frames = entered + crossings.entered, exited + crossings.exited, frames + 1
    capture.release()
    report_accuracy(
        f"bus.avi ({frames} frames): counted {entered} in / {exited} out, hand count 7 / 7",
    )
    assert frames > 900
    assert (entered, exited) == (7, 7)


def _refuse_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to write, encode or show a frame fail the test."""

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the people counter tried to write or show an image")

    for name in ("imwrite", "imencode", "imshow", "VideoWriter"):
        monkeypatch.setattr(cv2, name, refuse)


class Escapes:
    """Python's audit hooks on the camera thread: any file written, socket or process.

    OpenCV's own writers are trapped by `_refuse_images`; this catches everything that
    goes through Python: `open` for writing anywhere on disk, renames and removals,
    any socket (no frame can be sent without one), and starting another program.
    """

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    EVENTS = frozenset(
        {"os.rename", "os.remove", "os.link", "os.symlink", "os.truncate", "shutil.copyfile",
         "socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
         "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork"}
    )  # fmt: skip
    _installed = False
    _watching: ClassVar[list[Escapes]] = []

    def __init__(self, thread_prefix: str) -> None:
        self.thread_prefix = thread_prefix
        self.seen: list[str] = []

    def __enter__(self) -> Escapes:
        if not Escapes._installed:  # a hook cannot be removed: one for the session
            sys.addaudithook(Escapes._hook)
            Escapes._installed = True
        Escapes._watching.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        Escapes._watching.remove(self)

    @staticmethod
    def _hook(event: str, args: tuple[Any, ...]) -> None:
        if not Escapes._watching:
            return
        name = threading.current_thread().name
        for watch in Escapes._watching:
            if name.startswith(watch.thread_prefix) and Escapes._escapes(event, args):
                watch.seen.append(f"{event}{args!r:.200}")

    @staticmethod
    def _escapes(event: str, args: tuple[Any, ...]) -> bool:
        if event == "open":
            mode, flags = args[1], args[2]
            writes = isinstance(mode, str) and any(c in mode for c in "wax+")
            return writes or (isinstance(flags, int) and bool(flags & Escapes.WRITE_FLAGS))
        return event in Escapes.EVENTS


def test_escapes_catches_a_write_and_a_socket(tmp_path: Path) -> None:
    """The trap itself works: a thread of the watched name writing or connecting is seen."""

    def misbehave() -> None:
        (tmp_path / "frame.jpg").write_bytes(b"not really a frame")
        socket.socket().close()

    with Escapes("camera-") as escapes:
        thread = threading.Thread(target=misbehave, name="camera-test")
        thread.start()
        thread.join()
        (tmp_path / "main-thread.txt").write_text("other threads are not watched")
    assert [line.split("(")[0] for line in escapes.seen] == ["open", "socket.__new__"]


def test_the_source_reports_occupancy_from_a_video_file_and_writes_no_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = doorway_scene(7)
    video = tmp_path / "doorway.avi"
    write_video(scene, str(video))
    _refuse_images(monkeypatch)
    before = sorted(p.name for p in tmp_path.iterdir())
    start = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    config = PeopleCounterConfig(
        sensor="dining-main", camera=str(video), person_area=PERSON_AREA, interval_s=60
    )
    with Escapes("camera-") as escapes:
        source = PeopleCounterSource(config, tz=UTC, now=start)
        try:
            wait_until(source.finished.is_set, timeout=60, message="the video read to its end")
            [reading] = source.poll(start + timedelta(seconds=60))
        finally:
            source.close()
    assert escapes.seen == [], "the camera thread wrote a file, opened a socket or ran a program"
    assert (reading.entered, reading.exited) == (scene.entered, scene.exited)
    assert reading.present == scene.entered - scene.exited
    # What leaves the Pi is the reading: three counts, nothing else.
    assert set(reading.model_dump(exclude_none=True)) == {
        "kind",
        "sensor",
        "ts",
        "entered",
        "exited",
        "present",
    }
    assert source.poll(start + timedelta(seconds=120)) == [], "no frames since: no reading"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


class ScriptedCamera:
    """A camera that plays a scene's frames, then stops giving any (unplugged)."""

    def __init__(self, scene: Scene | None) -> None:
        self._frames = render(scene) if scene is not None else iter(())
        self._open = scene is not None

    def isOpened(self) -> bool:
        return self._open

    def read(self) -> tuple[bool, Any]:
        frame = next(self._frames, None)
        return frame is not None, frame

    def grab(self) -> bool:
        return next(self._frames, None) is not None

    def release(self) -> None:
        self._open = False


def test_present_never_goes_below_zero_and_resets_at_night() -> None:
    start = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    config = PeopleCounterConfig(
        sensor="dining-main", person_area=PERSON_AREA, interval_s=60, reset_at=time(3, 0)
    )
    arrive, leave = one_way_scene(3, down=True), one_way_scene(5, down=False)
    sessions = [arrive, leave, arrive]
    third_session = threading.Event()
    opened: list[int] = []

    def open_capture(camera: Any, _config: Any) -> ScriptedCamera:
        opened.append(camera)
        if len(opened) == 3:
            third_session.wait(30)
        return ScriptedCamera(sessions[len(opened) - 1] if len(opened) <= 3 else None)

    source = PeopleCounterSource(config, tz=UTC, now=start, open_capture=open_capture)
    try:
        wait_until(
            lambda: source.frames_counted == arrive.frames + leave.frames,
            timeout=30,
            message="the first two camera sessions to be counted",
        )
        [reading] = source.poll(start + timedelta(minutes=1))
        assert (reading.entered, reading.exited, reading.present) == (3, 5, 0)
        third_session.set()
        wait_until(lambda: source.frames_counted == arrive.frames, timeout=30, message="more")
        # Three came in after the count hit zero; the 03:00 reset clears them.
        [night] = source.poll(start + timedelta(hours=1, minutes=1))
        assert (night.entered, night.present) == (3, 0)
    finally:
        source.close()
    assert opened[:3] == [0, 0, 0]
