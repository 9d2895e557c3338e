"""Excursion timers of cold units, fed values and times directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.cold.excursion import (
    ColdLimits,
    ExcursionCause,
    ExcursionState,
    ExcursionStatus,
    ExcursionTimer,
)

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
FRIDGE = ColdLimits(
    min_c=0.0,
    max_c=5.0,
    delay=timedelta(minutes=30),
    missing_after=timedelta(minutes=15),
    hysteresis_c=0.5,
)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def feed(timer: ExcursionTimer, trace: list[tuple[float, float]]) -> ExcursionStatus:
    status = timer.check(T0)
    for minute, celsius in trace:
        status = timer.feed(minutes(minute), celsius)
    return status


def test_in_range_is_ok() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    assert feed(timer, [(m, 3.5) for m in range(60)]).state is ExcursionState.OK


def test_a_short_spike_never_alarms() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    assert timer.feed(minutes(0), 3.0).state is ExcursionState.OK
    pending = feed(timer, [(m, 8.0) for m in range(1, 20)])
    assert pending == ExcursionStatus(ExcursionState.PENDING, ExcursionCause.TOO_WARM, minutes(1))
    assert timer.feed(minutes(20), 3.0).state is ExcursionState.OK
    assert timer.check(minutes(30)).state is ExcursionState.OK


def test_too_warm_for_longer_than_the_delay_alarms() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    status = feed(timer, [(m, 7.5) for m in range(0, 30)])
    assert status.state is ExcursionState.PENDING
    assert timer.check(minutes(30)) == ExcursionStatus(
        ExcursionState.ALARMING, ExcursionCause.TOO_WARM, T0
    )


def test_too_cold_alarms_too() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    status = feed(timer, [(m, -2.0) for m in range(0, 31)])
    assert (status.state, status.cause) == (ExcursionState.ALARMING, ExcursionCause.TOO_COLD)


def test_hysteresis_keeps_a_hovering_unit_out() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    # 5.1, 4.9, 5.1, ... : it never comes back by the 0.5 °C margin.
    status = feed(timer, [(m, 5.1 if m % 2 == 0 else 4.9) for m in range(0, 31)])
    assert status.state is ExcursionState.ALARMING
    assert timer.feed(minutes(31), 4.6).state is ExcursionState.ALARMING
    assert timer.feed(minutes(32), 4.5).state is ExcursionState.OK


def test_on_the_limit_is_still_in() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    assert feed(timer, [(m, 5.0) for m in range(0, 60)]).state is ExcursionState.OK


def test_a_silent_probe_alarms() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    assert timer.check(minutes(14)).state is ExcursionState.OK
    assert timer.check(minutes(15)) == ExcursionStatus(
        ExcursionState.ALARMING, ExcursionCause.NO_PROBE, T0
    )
    timer.feed(minutes(16), 3.0)
    assert timer.check(minutes(30)).state is ExcursionState.OK
    assert timer.check(minutes(31)) == ExcursionStatus(
        ExcursionState.ALARMING, ExcursionCause.NO_PROBE, minutes(16)
    )


def test_a_late_reading_changes_nothing() -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    timer.feed(minutes(10), 3.0)
    assert timer.feed(minutes(5), 9.0).state is ExcursionState.OK
    assert timer.last_celsius == 3.0


@pytest.mark.parametrize(
    ("low", "high", "hysteresis"), [(5.0, 5.0, 0.5), (6.0, 5.0, 0.5), (0.0, 1.0, 0.5)]
)
def test_bad_limits_are_refused(low: float, high: float, hysteresis: float) -> None:
    with pytest.raises(ValueError, match="must"):
        ColdLimits(low, high, timedelta(minutes=1), timedelta(minutes=1), hysteresis)


@given(st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=200))
def test_readings_inside_the_limits_never_alarm(values: list[float]) -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    for i, celsius in enumerate(values):
        assert timer.feed(minutes(i), celsius).state is ExcursionState.OK


@given(
    st.lists(
        st.one_of(
            st.floats(min_value=5.01, max_value=40), st.floats(min_value=-40, max_value=-0.01)
        ),
        min_size=31,
        max_size=100,
    )
)
def test_readings_outside_for_the_delay_always_alarm(values: list[float]) -> None:
    timer = ExcursionTimer(FRIDGE, T0)
    for i, celsius in enumerate(values):
        status = timer.feed(minutes(i), celsius)
        expected = ExcursionState.ALARMING if i >= 30 else ExcursionState.PENDING
        assert status.state is expected
