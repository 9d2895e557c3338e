"""The simulated past the demo seeds the database with."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from edge.simulation.history import past_readings

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_day_of_history_has_every_kind_on_its_grid() -> None:
    readings = list(past_readings("site-a", END - timedelta(hours=24), END))
    kinds = Counter((device, reading.kind) for device, reading in readings)
    # three cold units every 30 s, the dining room every 60 s, both ends included
    assert kinds[("cold-room", "temperature")] == 3 * (2 * 60 * 24 + 1)
    assert kinds[("entrance", "occupancy")] == 60 * 24 + 1
    assert kinds[("waste-station", "waste")] > 0
    assert all(END - timedelta(hours=24) <= r.ts <= END for _, r in readings)


def test_history_is_reproducible_and_differs_by_site() -> None:
    start = END - timedelta(hours=3)
    first = [r.model_dump() for _, r in past_readings("site-a", start, END)]
    again = [r.model_dump() for _, r in past_readings("site-a", start, END)]
    other = [r.model_dump() for _, r in past_readings("site-b", start, END)]
    assert first == again
    assert first != other


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        list(past_readings("site-a", datetime(2026, 1, 1), END))
