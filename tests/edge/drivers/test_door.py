"""Door switches: the pure debouncer, and the source against gpiozero's MockFactory."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.drivers.door import DoorChange, DoorConfig, DoorDebouncer, DoorSource
from protocol import DoorReading

PIN = 17
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Door:
    """A door switch source on a mock pin, with wall and monotonic clocks moving together."""

    def __init__(self, factory: Any, **overrides: object) -> None:
        self.clock = Monotonic()
        config = DoorConfig.model_validate(
            {"type": "door", "sensor": "fridge-1", "pin": PIN, **overrides}
        )
        self.source = DoorSource(config, pin_factory=factory, monotonic=self.clock)
        self.pin = factory.pin(PIN)

    @property
    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.clock.t - 1000.0)

    def wait(self, seconds: float) -> None:
        self.clock.t += seconds

    def level(self, high: bool) -> None:
        if high:
            self.pin.drive_high()
        else:
            self.pin.drive_low()

    def bounce_to(self, high: bool, gaps_ms: tuple[float, ...] = (2, 1, 3, 2)) -> None:
        """Chatter between levels with the given gaps, ending on `high`."""
        level = high
        for gap in gaps_ms:
            self.level(level)
            level = not level
            self.wait(gap / 1000)
        self.level(high)

    def poll(self) -> list[Any]:
        return self.source.poll(self.now)


def reading(at: datetime, is_open: bool) -> DoorReading:
    return DoorReading(sensor="fridge-1", ts=at, open=is_open)


def test_first_poll_reports_the_state(mock_factory: Any) -> None:
    door = Door(mock_factory)  # pull-up, switch open: pin high, door open
    assert door.poll() == [reading(T0, True)]
    assert door.poll() == []


def test_a_slam_that_bounces_is_one_change(mock_factory: Any) -> None:
    door = Door(mock_factory)
    door.poll()
    door.wait(5)
    slammed_at = door.now
    door.bounce_to(high=False)  # door shut: NC contact closes, pin low
    assert door.pin.state is False
    door.wait(0.03)  # not yet quiet for 50 ms
    assert door.poll() == []
    door.wait(0.03)
    assert door.poll() == [reading(slammed_at, False)]
    assert door.source.is_open is False
    door.wait(1)
    assert door.poll() == []


def test_a_knock_that_comes_back_is_no_change(mock_factory: Any) -> None:
    door = Door(mock_factory)
    door.poll()
    door.bounce_to(high=True, gaps_ms=(1, 2, 1))  # chatter ending where it started
    door.wait(0.2)
    assert door.poll() == []
    assert door.source.is_open is True


def test_open_and_close_between_two_polls(mock_factory: Any) -> None:
    door = Door(mock_factory)
    door.poll()
    door.wait(1)
    closed_at = door.now
    door.bounce_to(high=False)
    door.wait(10)
    opened_at = door.now
    door.bounce_to(high=True)
    door.wait(4)
    closed_again_at = door.now
    door.level(False)
    door.wait(0.1)
    assert door.poll() == [
        reading(closed_at, False),
        reading(opened_at, True),
        reading(closed_again_at, False),
    ]


def test_reports_periodically_without_changes(mock_factory: Any) -> None:
    door = Door(mock_factory, report_every_s=300)
    first = door.poll()
    door.wait(299)
    assert door.poll() == []
    door.wait(1)
    assert door.poll() == [reading(door.now, True)]
    assert first == [reading(T0, True)]


def test_a_change_restarts_the_report_period(mock_factory: Any) -> None:
    door = Door(mock_factory, report_every_s=300)
    door.poll()
    door.wait(200)
    door.level(False)
    door.wait(0.1)
    assert len(door.poll()) == 1
    door.wait(200)
    assert door.poll() == []
    door.wait(100)
    assert door.poll() == [reading(door.now, False)]


def test_open_when_low(mock_factory: Any) -> None:
    door = Door(mock_factory, open_when="low")
    assert door.poll() == [reading(T0, False)]  # pin high: normally open contact, door shut
    at = door.now
    door.level(False)
    door.wait(0.1)
    assert door.poll() == [reading(at, True)]


def test_an_edge_the_pin_layer_dropped_is_caught_by_the_next_polls(mock_factory: Any) -> None:
    door = Door(mock_factory)
    door.poll()
    door.level(False)
    door.source.switch.take_edges()  # as if RPi.GPIO's bouncetime had swallowed it
    door.wait(1)
    seen_at = door.now
    assert door.poll() == []  # noticed, waiting to be sure
    door.wait(0.1)
    assert door.poll() == [reading(seen_at, False)]


def test_close_releases_the_pin(mock_factory: Any) -> None:
    door = Door(mock_factory)
    door.source.close()
    again = DoorSource(DoorConfig(sensor="fridge-1", pin=PIN), pin_factory=mock_factory)
    again.close()


def test_debouncer_holds_until_quiet() -> None:
    debouncer = DoorDebouncer(0.05, initial=False)
    assert debouncer.edge(0.000, True) == []
    assert debouncer.edge(0.004, False) == []
    assert debouncer.edge(0.009, True) == []
    assert debouncer.settle(0.055) == []
    assert debouncer.settle(0.060) == [DoorChange(at=0.0, open=True)]
    assert debouncer.settle(5.0) == []


def test_debouncer_settles_the_previous_burst_on_the_next_edge() -> None:
    debouncer = DoorDebouncer(0.05, initial=False)
    debouncer.edge(0.0, True)
    assert debouncer.edge(3.0, False) == [DoorChange(at=0.0, open=True)]
    assert debouncer.settle(3.06) == [DoorChange(at=3.0, open=False)]


@given(
    st.booleans(),
    st.lists(st.tuples(st.floats(0, 0.2), st.booleans()), max_size=60),
)
def test_debouncer_ends_on_the_last_level_and_alternates(
    initial: bool, edges: list[tuple[float, bool]]
) -> None:
    debouncer = DoorDebouncer(0.05, initial=initial)
    t, changes = 0.0, []
    for gap, level in edges:
        t += gap
        changes += debouncer.edge(t, level)
    changes += debouncer.settle(t + 1)
    assert debouncer.state == (edges[-1][1] if edges else initial)
    states = [initial, *(c.open for c in changes)]
    assert all(a != b for a, b in itertools.pairwise(states))
    assert [c.at for c in changes] == sorted(c.at for c in changes)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"pin": 40}, "pin"), ({"open_when": "up"}, "open_when"), ({"bounce": 5}, "bounce")],
)
def test_config_errors_name_the_field(change: dict[str, object], field: str) -> None:
    data: dict[str, object] = {"type": "door", "sensor": "fridge-1", "pin": PIN}
    with pytest.raises(ValidationError) as caught:
        DoorConfig.model_validate(data | change)
    assert caught.value.errors()[0]["loc"] == (field,)
