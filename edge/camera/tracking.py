"""Follow blobs from frame to frame and count who crosses the counting line, and which way.

Pure: blob centroids in, crossings out; no OpenCV, no frames. A track changes side only
when its centroid is clearly past the line (beyond a band either side), so someone who
lingers on the line is not counted again and again. A blob holding several people (a
group walking together) counts as many as its area says, judged over its last few
frames; when it crosses, the missing tracks it swallowed are marked as crossed too, so
they are not counted again if they reappear on their own.
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

SIZE_MEMORY = 7
"""Frames over which a track's head count is judged (a median, so brief merges don't count)."""


@dataclass(frozen=True, slots=True)
class Blob:
    """Something moving in a frame: its centroid in pixels and how many people it holds."""

    x: float
    y: float
    people: int = 1


@dataclass(frozen=True, slots=True)
class CountingLine:
    """A horizontal or vertical line across the doorway, in pixels of the processed frame."""

    orientation: Literal["horizontal", "vertical"]
    position: float
    band: float
    entering_positive: bool
    """True when moving towards larger y (horizontal line) or x (vertical) means entering."""

    def side(self, x: float, y: float) -> int:
        """-1 or +1 when clearly on one side, 0 inside the band around the line."""
        offset = (y if self.orientation == "horizontal" else x) - self.position
        if abs(offset) <= self.band:
            return 0
        return 1 if offset > 0 else -1


@dataclass(slots=True)
class Track:
    """One blob followed over frames."""

    id: int
    x: float
    y: float
    side: int
    vx: float = 0.0
    vy: float = 0.0
    missed: int = 0
    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=SIZE_MEMORY))

    def predicted(self) -> tuple[float, float]:
        """Where the track should be now, moving on at its last speed."""
        steps = self.missed + 1
        return self.x + self.vx * steps, self.y + self.vy * steps

    def people(self) -> int:
        """How many people the track holds, by the median of its recent blobs."""
        return max(1, round(statistics.median(self.sizes))) if self.sizes else 1


@dataclass(frozen=True, slots=True)
class ParkedTrack:
    """A track that vanished on the line: someone standing still long enough to fade into
    the background. Whoever reappears there takes over its side."""

    track: Track
    until: int


@dataclass(frozen=True, slots=True)
class Crossings:
    """People who crossed in one update."""

    entered: int = 0
    exited: int = 0


class CrossingTracker:
    """Matches blobs to tracks by predicted position and counts line crossings."""

    def __init__(
        self,
        line: CountingLine,
        max_distance: float,
        view: tuple[float, float],
        max_missed: int = 8,
        park_frames: int = 300,
    ) -> None:
        self.line = line
        self.max_distance = max_distance
        self.view = view
        """Width and height: a track predicted outside has left, and is forgotten."""
        self.max_missed = max_missed
        self.park_frames = park_frames
        self.tracks: list[Track] = []
        self.parked: list[ParkedTrack] = []
        self._frame = 0
        self._ids = itertools.count(1)

    def update(self, blobs: Sequence[Blob]) -> Crossings:
        """Take one frame's blobs; return who crossed in it."""
        self._frame += 1
        matched_tracks: set[int] = set()
        matched_blobs: set[int] = set()
        for _, t_index, b_index in self._candidate_pairs(blobs):
            if t_index in matched_tracks or b_index in matched_blobs:
                continue
            matched_tracks.add(t_index)
            matched_blobs.add(b_index)
            self._follow(self.tracks[t_index], blobs[b_index])
        entered = exited = 0
        for index, track in enumerate(self.tracks):
            if index not in matched_tracks:
                track.missed += 1
                continue
            moved = self._crossed(track)
            if moved:
                people = track.people()
                self._absorb(track, moved, people - 1)
                if (moved > 0) == self.line.entering_positive:
                    entered += people
                else:
                    exited += people
        self._forget_lost()
        for b_index, blob in enumerate(blobs):
            if b_index not in matched_blobs:
                self.tracks.append(self._new_track(blob))
        return Crossings(entered, exited)

    def _forget_lost(self) -> None:
        kept = []
        for track in self.tracks:
            if not self._inside(track):
                continue
            if track.missed <= self.max_missed:
                kept.append(track)
            elif track.side and self._near_line(track):
                self.parked.append(ParkedTrack(track, self._frame + self.park_frames))
        self.tracks = kept
        self.parked = [p for p in self.parked if p.until >= self._frame]

    def _near_line(self, track: Track) -> bool:
        return self.line.side(track.x, track.y) == 0 or (
            abs(self.line.side(track.x, track.y) - track.side) == 0
            and self._distance_to_line(track) <= 3 * self.line.band
        )

    def _distance_to_line(self, track: Track) -> float:
        along = track.y if self.line.orientation == "horizontal" else track.x
        return abs(along - self.line.position)

    def _new_track(self, blob: Blob) -> Track:
        """A new track, or a parked one taken up again by whoever appears where it was."""
        nearest = min(
            self.parked,
            key=lambda p: (p.track.x - blob.x) ** 2 + (p.track.y - blob.y) ** 2,
            default=None,
        )
        if nearest is not None:
            distance = ((nearest.track.x - blob.x) ** 2 + (nearest.track.y - blob.y) ** 2) ** 0.5
            if distance <= 1.5 * self.max_distance:
                self.parked.remove(nearest)
                track = nearest.track
                track.x, track.y, track.vx, track.vy, track.missed = blob.x, blob.y, 0, 0, 0
                track.sizes.append(blob.people)
                return track
        track = Track(next(self._ids), blob.x, blob.y, self.line.side(blob.x, blob.y))
        track.sizes.append(blob.people)
        return track

    def _candidate_pairs(self, blobs: Sequence[Blob]) -> list[tuple[float, int, int]]:
        pairs = []
        for t_index, track in enumerate(self.tracks):
            px, py = track.predicted()
            reach = self.max_distance * min(2.0, 1 + 0.25 * track.missed)
            for b_index, blob in enumerate(blobs):
                distance = ((blob.x - px) ** 2 + (blob.y - py) ** 2) ** 0.5
                if distance <= reach:
                    pairs.append((distance, t_index, b_index))
        pairs.sort()
        return pairs

    def _inside(self, track: Track) -> bool:
        x, y = track.predicted() if track.missed else (track.x, track.y)
        return 0 <= x <= self.view[0] and 0 <= y <= self.view[1]

    @staticmethod
    def _follow(track: Track, blob: Blob) -> None:
        steps = track.missed + 1
        vx, vy = (blob.x - track.x) / steps, (blob.y - track.y) / steps
        track.vx, track.vy = 0.5 * (track.vx + vx), 0.5 * (track.vy + vy)
        track.x, track.y, track.missed = blob.x, blob.y, 0
        track.sizes.append(blob.people)

    def _crossed(self, track: Track) -> int:
        """+1 or -1 if the track just moved to the other side, else 0."""
        side = self.line.side(track.x, track.y)
        if side == 0 or side == track.side:
            return 0
        previous, track.side = track.side, side
        return 0 if previous == 0 else side

    def _absorb(self, carrier: Track, moved: int, count: int) -> None:
        """Mark up to `count` missing tracks near a crossing group as having crossed with it."""
        if count <= 0:
            return
        nearby = sorted(
            (
                (abs(t.x - carrier.x) + abs(t.y - carrier.y), t)
                for t in self.tracks
                if t is not carrier and t.missed > 0 and t.side == -moved
            ),
            key=lambda pair: pair[0],
        )
        for distance, track in nearby[:count]:
            if distance <= 3 * self.max_distance:
                track.side = moved
