"""Drop detection on generated weight traces with known drops."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.waste.drop_detector import DetectorSettings, DropDetector, WasteDrop

T0 = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
RATE = 5  # samples a second: the station polls every 0.2 s


class Trace:
    """A weight trace built from segments, as a scale under a bin would report it."""

    def __init__(self, start_g: float = 500.0, seed: int = 1) -> None:
        self.samples: list[tuple[datetime, float]] = []
        self.level = start_g
        self.rng = random.Random(seed)

    @property
    def now(self) -> datetime:
        return T0 + timedelta(seconds=len(self.samples) / RATE)

    def _add(self, grams: float) -> None:
        self.samples.append((self.now, grams))

    def hold(self, seconds: float, grams: float | None = None, noise: float = 0.0) -> Trace:
        self.level = self.level if grams is None else grams
        for _ in range(round(seconds * RATE)):
            self._add(self.level + self.rng.uniform(-noise, noise))
        return self

    def ramp(self, seconds: float, to: float, noise: float = 0.0) -> Trace:
        start, steps = self.level, round(seconds * RATE)
        for i in range(1, steps + 1):
            self._add(start + (to - start) * i / steps + self.rng.uniform(-noise, noise))
        self.level = to
        return self

    def vibrate(self, seconds: float, amplitude: float, hz: float) -> Trace:
        for i in range(round(seconds * RATE)):
            self._add(self.level + amplitude * math.sin(2 * math.pi * hz * i / RATE + 0.3))
        return self

    def spike(self, grams: float) -> Trace:
        self._add(grams)
        return self

    def drift(self, seconds: float, grams_per_s: float, noise: float = 0.0) -> Trace:
        for _ in range(round(seconds * RATE)):
            self.level += grams_per_s / RATE
            self._add(self.level + self.rng.uniform(-noise, noise))
        return self

    def drops(self, detector: DropDetector | None = None) -> list[WasteDrop]:
        detector = detector or DropDetector()
        found = [detector.feed(at, grams) for at, grams in self.samples]
        return [drop for drop in found if drop is not None]


def grams(drops: list[WasteDrop]) -> list[float]:
    return [drop.grams for drop in drops]


def test_a_quiet_bin_has_no_drops() -> None:
    assert Trace().hold(60, noise=1.5).drops() == []


def test_one_drop() -> None:
    trace = Trace().hold(5).ramp(0.6, to=912).hold(5)
    (drop,) = trace.drops()
    assert drop.grams == 412.0
    # Reported when it settled: 2 s after the median filter has caught up.
    assert T0 + timedelta(seconds=7) <= drop.at <= T0 + timedelta(seconds=8.5)


def test_one_drop_in_noise() -> None:
    trace = Trace().hold(5, noise=1.5).ramp(0.6, to=912, noise=1.5).hold(5, noise=1.5)
    assert grams(trace.drops()) == [pytest.approx(412.0, abs=1.5)]


def test_vibration_and_knocks_are_not_waste() -> None:
    trace = Trace().hold(5).vibrate(10, amplitude=40, hz=2.2).hold(1)
    trace.spike(2500).hold(1).spike(-300).hold(1).spike(1800).spike(1700).hold(5)
    assert trace.drops() == []


def test_a_hand_leaning_briefly_is_not_waste() -> None:
    trace = Trace().hold(5).ramp(0.4, to=1800).hold(1.4).ramp(0.4, to=500).hold(5)
    assert trace.drops() == []


def test_a_hand_leaning_and_wobbling_is_not_waste() -> None:
    # A hand's pressure sways slowly by tens of grams; it never holds within 5 g for 2 s.
    trace = Trace().hold(5).ramp(0.4, to=1500).vibrate(8, amplitude=25, hz=0.7)
    trace.drift(3, grams_per_s=-40).ramp(0.4, to=500).hold(5)
    assert trace.drops() == []


def test_bin_lifted_emptied_and_put_back() -> None:
    # Tared with the empty 1.2 kg bin on: bin off reads -1200, bin back empty reads 0.
    trace = Trace(start_g=2000).hold(5).ramp(1, to=-1200).hold(20).ramp(1, to=0).hold(5)
    trace.ramp(0.6, to=300).hold(5)
    assert grams(trace.drops()) == [300.0]


def test_bin_lifted_and_put_back_full() -> None:
    trace = Trace(start_g=2000).hold(5).ramp(1, to=-1200).hold(5).ramp(1, to=2000).hold(5)
    assert trace.drops() == []


def test_bin_emptied_in_place_is_a_new_baseline() -> None:
    trace = Trace(start_g=2000).hold(5).ramp(3, to=100).hold(5).ramp(0.6, to=150).hold(5)
    assert grams(trace.drops()) == [50.0]


def test_two_drops_with_a_settle_between_are_two() -> None:
    trace = Trace().hold(5).ramp(0.6, to=700).hold(3).ramp(0.6, to=950).hold(5)
    assert grams(trace.drops()) == [200.0, 250.0]


def test_two_drops_without_a_settle_between_are_one() -> None:
    trace = Trace().hold(5).ramp(0.6, to=700).hold(0.8).ramp(0.6, to=950).hold(5)
    assert grams(trace.drops()) == [450.0]


def test_slow_drift_is_not_waste_but_a_drop_on_top_is() -> None:
    trace = Trace().hold(5, noise=1).drift(600, grams_per_s=0.5, noise=1).hold(5, noise=1)
    assert trace.drops() == []
    trace.ramp(0.6, to=trace.level + 100, noise=1).hold(5, noise=1)
    assert grams(trace.drops()) == [pytest.approx(100.0, abs=2)]


def test_a_drop_below_the_minimum_is_drift() -> None:
    assert Trace().hold(5).ramp(0.6, to=515).hold(5).drops() == []


def test_the_first_settled_level_is_only_a_baseline() -> None:
    detector = DropDetector()
    assert Trace(start_g=3000).hold(10).drops(detector) == []
    assert detector.baseline == 3000.0


def test_starting_with_the_bin_off_then_putting_it_on() -> None:
    trace = Trace(start_g=-1200).hold(5).ramp(1, to=800).hold(5).ramp(0.6, to=900).hold(5)
    assert grams(trace.drops()) == [100.0]


def test_the_scales_unstable_flag_delays_settling() -> None:
    detector = DropDetector()
    for i in range(25):
        detector.feed(T0 + timedelta(seconds=i / RATE), 500.0)
    settled_at = None
    for i in range(25, 80):
        at = T0 + timedelta(seconds=i / RATE)
        drop = detector.feed(at, 700.0, stable=i >= 60)  # scale says unstable until 12 s
        if drop is not None:
            settled_at = drop.at
    assert settled_at is not None
    assert settled_at >= T0 + timedelta(seconds=14)


def test_garbage_and_time_going_backwards_are_ignored() -> None:
    detector = DropDetector()
    trace = Trace().hold(5)
    for at, value in trace.samples:
        detector.feed(at, value)
    assert detector.feed(T0, 9000.0) is None
    assert detector.feed(trace.now, math.nan) is None
    assert detector.feed(trace.now, math.inf) is None
    assert detector.baseline == 500.0


@pytest.mark.parametrize(
    "kwargs",
    [{"min_drop_g": 0}, {"tolerance_g": 0}, {"tolerance_g": 30}, {"settle": timedelta(0)}],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        DetectorSettings(**kwargs)  # type: ignore[arg-type]


segment = st.one_of(
    st.tuples(st.just("hold"), st.floats(0.2, 8), st.floats(-2000, 5000), st.floats(0, 3)),
    st.tuples(st.just("ramp"), st.floats(0.2, 3), st.floats(-2000, 5000), st.floats(0, 3)),
    st.tuples(st.just("vibrate"), st.floats(0.2, 5), st.floats(0, 200), st.floats(0.5, 2.4)),
    st.tuples(st.just("spike"), st.just(0.0), st.floats(-5000, 9000), st.just(0.0)),
    st.tuples(st.just("drift"), st.floats(1, 60), st.floats(-5, 5), st.floats(0, 3)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(segment, max_size=25), st.integers(0, 1000))
def test_no_trace_ever_yields_a_negative_or_zero_drop(
    segments: list[tuple[str, float, float, float]], seed: int
) -> None:
    trace = Trace(seed=seed)
    for kind, seconds, value, extra in segments:
        if kind == "hold":
            trace.hold(seconds, value, noise=extra)
        elif kind == "ramp":
            trace.ramp(seconds, value, noise=extra)
        elif kind == "vibrate":
            trace.vibrate(seconds, value, hz=extra)
        elif kind == "spike":
            trace.spike(value)
        else:
            trace.drift(seconds, value, noise=extra)
    trace.hold(5)
    for drop in trace.drops():
        assert drop.grams > 20.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-10, 10), st.floats(30, 3000), st.floats(-3000, -30)),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 1000),
)
def test_steps_between_settled_levels_are_exactly_the_drops(steps: list[float], seed: int) -> None:
    trace = Trace(start_g=3000, seed=seed).hold(4, noise=1)
    expected = []
    for step in steps:
        if trace.level + step < 0:
            step = -step  # stay on the scale: lifting has its own rule
        trace.ramp(0.6, to=trace.level + step, noise=1).hold(3, noise=1)
        if step > 20:
            expected.append(step)
    assert grams(trace.drops()) == [pytest.approx(g, abs=2.1) for g in expected]
