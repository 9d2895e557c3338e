"""Line crossings from blob centroids: directions, the band, groups, people who linger."""

from __future__ import annotations

from edge.camera.tracking import Blob, CountingLine, CrossingTracker

LINE = CountingLine("horizontal", position=100, band=10, entering_positive=True)


def _walk(tracker: CrossingTracker, ys: list[float], x: float = 50, people: int = 1) -> list[int]:
    """Feed one blob along `ys`; return (entered - exited) per frame."""
    result = []
    for y in ys:
        crossings = tracker.update([Blob(x, y, people)])
        result.append(crossings.entered - crossings.exited)
    return result


def _tracker() -> CrossingTracker:
    return CrossingTracker(LINE, max_distance=30, view=(200, 200), max_missed=3, park_frames=50)


def test_walking_down_enters_and_walking_up_exits_once() -> None:
    tracker = _tracker()
    assert sum(_walk(tracker, [20, 40, 60, 80, 100, 120, 140, 160])) == 1
    tracker = _tracker()
    assert _walk(tracker, [180, 160, 140, 120, 100, 80, 60]).count(-1) == 1


def test_a_vertical_line_counts_sideways_movement() -> None:
    line = CountingLine("vertical", position=100, band=10, entering_positive=False)
    tracker = CrossingTracker(line, max_distance=30, view=(200, 200))
    exits = [tracker.update([Blob(x, 50)]).exited for x in (20, 45, 70, 95, 120, 145)]
    assert exits == [0, 0, 0, 0, 1, 0]  # out of the band on the right: moving right exits


def test_hovering_inside_the_band_never_counts() -> None:
    tracker = _tracker()
    ys = [40, 60, 80, 95, 105, 92, 108, 95, 104, 96, 80, 60, 40]
    assert _walk(tracker, ys) == [0] * len(ys)


def test_going_in_and_back_out_counts_both() -> None:
    tracker = _tracker()
    changes = _walk(tracker, [40, 60, 80, 100, 120, 140, 120, 100, 80, 60])
    assert changes.count(1) == 1
    assert changes.count(-1) == 1


def test_a_group_counts_as_many_as_its_blob_holds() -> None:
    tracker = _tracker()
    assert sum(_walk(tracker, [20, 40, 60, 80, 100, 120, 140], people=3)) == 3


def test_a_brief_merge_does_not_change_a_tracks_head_count() -> None:
    tracker = _tracker()
    sizes = [1, 1, 1, 1, 2, 1, 1, 1]
    total = 0
    for y, people in zip([20, 35, 50, 65, 80, 95, 110, 125], sizes, strict=True):
        total += tracker.update([Blob(50, y, people)]).entered
    assert total == 1


def test_someone_born_inside_the_band_is_not_counted_until_they_cross_fully() -> None:
    tracker = _tracker()
    assert sum(_walk(tracker, [100, 120, 140, 160])) == 0
    assert sum(_walk(tracker, [140, 120, 100, 80, 60])) == -1


def test_someone_who_fades_into_the_background_on_the_line_keeps_their_side() -> None:
    tracker = _tracker()
    _walk(tracker, [20, 40, 60, 80, 94])
    for _ in range(20):  # stood still long enough for the background model to absorb them
        tracker.update([])
    assert tracker.tracks == []
    assert len(tracker.parked) == 1
    assert sum(_walk(tracker, [112, 130, 150])) == 1


def test_a_parked_track_expires() -> None:
    tracker = _tracker()
    _walk(tracker, [20, 40, 60, 80, 94])
    for _ in range(80):
        tracker.update([])
    assert tracker.parked == []
    assert sum(_walk(tracker, [112, 130, 150])) == 0


def test_a_track_that_walks_out_of_view_is_forgotten_at_once() -> None:
    tracker = _tracker()
    _walk(tracker, [150, 170, 190])
    tracker.update([])
    assert tracker.tracks == []
    # Someone new at the bottom is not the person who just left.
    assert sum(_walk(tracker, [195, 180, 160])) == 0


def test_a_group_crossing_takes_the_missing_members_with_it() -> None:
    tracker = _tracker()
    for y in (20, 40, 60):  # two people walking apart, then merged into one blob
        tracker.update([Blob(40, y), Blob(70, y)])
    entered = 0
    for y in (75, 90, 105, 120):
        entered += tracker.update([Blob(55, y, 2)]).entered
    for y in (135, 150):  # they separate again below the line
        entered += tracker.update([Blob(40, y), Blob(70, y)]).entered
    assert entered == 2
