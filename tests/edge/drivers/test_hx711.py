"""HX711: the real bit-banging code against a simulated chip on gpiozero mock pins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockPin
from pydantic import ValidationError

from edge.drivers import ScaleError
from edge.drivers.hx711 import (
    HX711,
    Calibration,
    HX711Config,
    HX711Error,
    HX711NotReady,
    HX711Scale,
    HX711TooSlow,
    from_twos_complement,
)

DOUT, SCK = 5, 6
POWER_DOWN_NS = 60_000
GAIN_OF_PULSES = {1: 128, 2: 32, 3: 64}


class FakeClock:
    """Time for the driver and the chip: each look and each pin write takes a little."""

    def __init__(self, look_ns: int = 100, edge_ns: int = 300) -> None:
        self.t = 0
        self.look_ns = look_ns
        self.edge_ns = edge_ns
        self.edges = 0
        self.slow: set[int] = set()  # pin writes (by number) that take 80 µs: pre-empted

    def ns(self) -> int:
        self.t += self.look_ns
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += int(seconds * 1e9)

    def edge(self) -> int:
        self.edges += 1
        self.t += 80_000 if self.edges in self.slow else self.edge_ns
        return self.t

    def slow_next(self, count: int) -> None:
        self.slow = set(range(self.edges + 1, self.edges + 1 + count))


class ClockPin(MockPin):  # type: ignore[misc]
    """PD_SCK as the chip sees it: every level change is passed to the chip."""

    chip: Chip | None = None

    def _set_state(self, value: Any) -> None:
        before = self._state
        super()._set_state(value)
        if self.chip is not None and bool(value) != before:
            self.chip.clock_edge(bool(value))


class DoutPin(MockPin):  # type: ignore[misc]
    """DOUT: looking at it lets the chip finish a transfer and present its next conversion."""

    chip: Chip | None = None

    def _get_state(self) -> Any:
        if self.chip is not None:
            self.chip.looked_at()
        return super()._get_state()


class Chip:
    """The HX711's side of the wire, following the datasheet's timing diagram.

    A queued conversion pulls DOUT low; each rising edge of PD_SCK shifts out the next
    bit, MSB first; pulses 25-27 set the gain of the next conversion; PD_SCK high for
    more than 60 µs powers the chip down, and it wakes at gain 128 with a new conversion.
    """

    def __init__(self, factory: Any, clock: FakeClock) -> None:
        self.clock = clock
        self.sck = factory.pin(SCK, pin_class=ClockPin)
        self.dout = factory.pin(DOUT, pin_class=DoutPin)
        self.queue: list[int] = []
        self.word: int | None = None
        self.pulses = 0
        self.gain = 128
        self.high_since = 0
        self.converted_at: list[int] = []  # the gain of each conversion sent
        self.finished: list[int] = []  # extra pulses after each word, once the next came
        self.power_cycles = 0

    def attach(self) -> None:
        """Wire up once the driver has claimed the pins."""
        self.sck.chip = self
        self.dout.chip = self
        self.looked_at()

    def convert(self, *values: int) -> None:
        self.queue.extend(values)

    def clock_edge(self, high: bool) -> None:
        now = self.clock.edge()
        if high:
            self.high_since = now
            if self.word is None:
                return
            self.pulses += 1
            if self.pulses <= 24:
                bit = (self.word >> (24 - self.pulses)) & 1
                self._drive(bool(bit))
            else:
                self._drive(True)
        elif now - self.high_since > POWER_DOWN_NS:
            self.power_cycles += 1
            self.word, self.pulses, self.gain = None, 0, 128
            self._drive(True)

    @property
    def gain_pulses(self) -> list[int]:
        """Extra pulses after each word sent, the last one included."""
        last = [self.pulses - 24] if self.word is not None and self.pulses > 24 else []
        return self.finished + last

    def looked_at(self) -> None:
        if self.word is not None and self.pulses >= 25 and not self.sck.state:
            self.finished.append(self.pulses - 24)
            self.gain = GAIN_OF_PULSES[self.pulses - 24]
            self.word, self.pulses = None, 0
        if self.word is None and self.queue:
            self.word = self.queue.pop(0) & 0xFFFFFF
            self.converted_at.append(self.gain)
            self._drive(False)

    def _drive(self, high: bool) -> None:
        if high:
            self.dout.drive_high()
        else:
            self.dout.drive_low()


class Bench:
    """A driver and a simulated chip sharing the mock pins and the fake clock."""

    def __init__(self, factory: Any, gain: Any = 128, **kwargs: Any) -> None:
        self.clock = FakeClock()
        self.chip = Chip(factory, self.clock)
        self.hx = HX711(
            DOUT,
            SCK,
            gain=gain,
            pin_factory=factory,
            clock_ns=self.clock.ns,
            sleep=self.clock.sleep,
            **kwargs,
        )
        self.chip.attach()


@pytest.fixture
def bench(mock_factory: Any) -> Bench:
    return Bench(mock_factory)


@pytest.mark.parametrize(
    ("word", "value"),
    [(0, 0), (1, 1), (0x7FFFFE, 8_388_606), (0xFFFFFF, -1), (0x800001, -8_388_607)],
)
def test_twos_complement(word: int, value: int) -> None:
    assert from_twos_complement(word) == value


@pytest.mark.parametrize("value", [0, 1, 123_456, 8_388_606, -1, -98_765, -8_388_607])
def test_reads_the_value_shifted_out(bench: Bench, value: int) -> None:
    bench.chip.convert(value)
    assert bench.hx.read_raw() == value
    assert bench.chip.gain_pulses == [1]


def test_reads_one_conversion_after_another(bench: Bench) -> None:
    bench.chip.convert(100, -200, 300)
    assert [bench.hx.read_raw() for _ in range(3)] == [100, -200, 300]
    assert bench.chip.gain_pulses == [1, 1, 1]
    assert bench.chip.converted_at == [128, 128, 128]


@pytest.mark.parametrize(("gain", "pulses"), [(64, 3), (32, 2)])
def test_other_gains_throw_away_the_first_conversion(
    mock_factory: Any, gain: int, pulses: int
) -> None:
    bench = Bench(mock_factory, gain=gain)
    bench.chip.convert(111, 222, 333)
    assert bench.hx.read_raw() == 222  # 111 was converted at 128, before the gain was set
    assert bench.hx.read_raw() == 333
    assert bench.chip.gain_pulses == [pulses] * 3
    assert bench.chip.converted_at == [128, gain, gain]


def test_a_pre_empted_pulse_discards_the_read_and_resets_the_chip(bench: Bench) -> None:
    bench.chip.convert(4242, 5151)
    bench.clock.slow = {bench.clock.edges + 20, bench.clock.edges + 21}  # the 11th data bit
    with pytest.raises(HX711TooSlow, match="µs"):
        bench.hx.read_raw()
    assert bench.chip.power_cycles >= 1
    assert bench.chip.sck.state is False
    assert bench.hx.read_raw() == 5151  # 4242 was lost with the power cycle


def test_a_slow_clock_never_returns_a_value(mock_factory: Any) -> None:
    bench = Bench(mock_factory)
    bench.clock.edge_ns = 80_000
    bench.chip.convert(1, 2, 3, 4)
    for _ in range(3):
        with pytest.raises(HX711TooSlow):
            bench.hx.read_raw()


def test_not_ready_times_out(bench: Bench) -> None:
    with pytest.raises(HX711NotReady, match="wiring"):
        bench.hx.read_raw()


def test_saturation_is_an_error(bench: Bench) -> None:
    bench.chip.convert(0x7FFFFF)
    with pytest.raises(HX711Error, match="saturated"):
        bench.hx.read_raw()


def test_power_down_and_up(bench: Bench) -> None:
    bench.hx.power_down()
    assert bench.chip.sck.state is True
    bench.hx.power_up()
    assert bench.chip.sck.state is False
    assert bench.chip.power_cycles == 1
    bench.chip.convert(77)
    assert bench.hx.read_raw() == 77


def test_power_cycle_at_gain_64_restores_the_gain(mock_factory: Any) -> None:
    bench = Bench(mock_factory, gain=64)
    bench.chip.convert(1, 2)
    assert bench.hx.read_raw() == 2
    bench.hx.power_down()
    bench.hx.power_up()
    bench.chip.convert(3, 4)
    assert bench.hx.read_raw() == 4
    assert bench.chip.converted_at == [128, 64, 128, 64]


def make_scale(bench: Bench, path: Path) -> HX711Scale:
    return HX711Scale(bench.hx, path, samples=3)


def test_tare_and_calibrate_are_saved_and_used(bench: Bench, tmp_path: Path) -> None:
    path = tmp_path / "state" / "bin-plate-scale.json"
    scale = make_scale(bench, path)
    bench.chip.convert(8000, 8000, 8000)
    with pytest.raises(ScaleError, match="not calibrated"):
        scale.read()
    bench.chip.convert(*[8_000 + d for d in (-3, 3, -2, 2, -1, 1, 0, 0, 0, 0)])
    scale.tare()
    assert scale.calibration.offset == 8_000
    bench.chip.convert(*[428_000] * 10)  # 1 kg at 420 counts per gram
    assert scale.calibrate(1000.0) == pytest.approx(420.0)
    assert json.loads(path.read_text()) == {"offset": 8000.0, "counts_per_gram": 420.0}
    reloaded = make_scale(bench, path)
    bench.chip.convert(8_000 + 420 * 250, 8_000 + 420 * 251, 8_000 + 420 * 4_000)
    assert reloaded.read().grams == pytest.approx(251.0)  # the median ignores the spike


def test_read_retries_discarded_reads(bench: Bench, tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    Calibration(offset=0.0, counts_per_gram=10.0).save(path)
    scale = make_scale(bench, path)
    bench.chip.convert(1000, 1000, 1000, 1000)
    bench.clock.slow_next(2)  # the first pulse's rising and falling edges
    assert scale.read().grams == 100.0
    assert scale.discarded == 1


def test_calibrate_refuses_nothing_on_the_scale(bench: Bench, tmp_path: Path) -> None:
    scale = make_scale(bench, tmp_path / "cal.json")
    bench.chip.convert(*[5] * 10)
    with pytest.raises(ScaleError, match="almost nothing"):
        scale.calibrate(500.0)
    with pytest.raises(ValueError, match="positive"):
        scale.calibrate(0)


def test_a_bad_calibration_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text("{not json")
    with pytest.raises(ScaleError, match="not a valid calibration file"):
        Calibration.load(path)


def test_from_config_and_close(mock_factory: Any, tmp_path: Path) -> None:
    config = HX711Config.model_validate(
        {"type": "hx711", "dout_pin": DOUT, "sck_pin": SCK, "calibration_file": tmp_path / "c"}
    )
    scale = HX711Scale.from_config(config, pin_factory=mock_factory)
    scale.close()
    HX711Scale.from_config(config, pin_factory=mock_factory).close()  # pins were released


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sck_pin": DOUT}, "different pins"),
        ({"gain": 100}, "gain"),
        ({"max_pulse_us": 60}, "max_pulse_us"),
        ({"calibration_file": None}, "calibration_file"),
    ],
)
def test_config_errors_are_clear(change: dict[str, object], message: str) -> None:
    data = {"type": "hx711", "dout_pin": DOUT, "sck_pin": SCK, "calibration_file": "c.json"}
    with pytest.raises(ValidationError, match=message):
        HX711Config.model_validate(data | change)
