"""The local alarm: buzzer, LED and silence button on mock pins, driven by a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.cold.excursion import ExcursionCause, ExcursionState
from edge.drivers.alarm import AlarmConfig, AlarmOutput, LocalAlarm
from edge.drivers.ds18b20 import DS18B20Config, DS18B20Source
from protocol import TemperatureReading

BUZZER, LED, SILENCE = 22, 23, 24
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll `condition` until true or the timeout; the buzzer beeps in its own thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.001)
    return condition()


class Kitchen:
    """An alarm watching fridge-1 (0-5 °C, 30 min delay) and the clock the test moves."""

    def __init__(self, factory: Any, **overrides: object) -> None:
        self.now = T0
        config = AlarmConfig.model_validate(
            {
                "type": "alarm",
                "buzzer_pin": BUZZER,
                "led_pin": LED,
                "silence_pin": SILENCE,
                "beep_on_s": 0.5,
                "beep_off_s": 0.5,
                "units": [{"sensor": "fridge-1", "min_c": 0, "max_c": 5, "delay_minutes": 30}],
                **overrides,
            }
        )
        self.alarm = LocalAlarm(config, pin_factory=factory, clock=lambda: self.now)
        self.buzzer = factory.pin(BUZZER)
        self.led = factory.pin(LED)
        self.button = factory.pin(SILENCE)

    def probe(self, celsius: float, minutes: int, start: int = 0) -> None:
        """The probe reads `celsius` once a minute for `minutes` minutes."""
        for minute in range(start, start + minutes):
            self.now = T0 + timedelta(minutes=minute)
            self.alarm.observe(TemperatureReading(sensor="fridge-1", ts=self.now, celsius=celsius))
            self.alarm.poll(self.now)

    def press_silence(self) -> None:
        self.button.drive_low()
        self.button.drive_high()

    def sounding(self) -> bool:
        return self.alarm.output is AlarmOutput.SOUNDING and wait_for(lambda: self.buzzer.state)

    def quiet(self) -> bool:
        return self.alarm.output is not AlarmOutput.SOUNDING and self.buzzer.state is False


@pytest.fixture
def kitchen(mock_factory: Any) -> Kitchen:
    return Kitchen(mock_factory)


def test_starts_quiet(kitchen: Kitchen) -> None:
    kitchen.alarm.poll(T0)
    assert kitchen.quiet()
    assert kitchen.led.state is False


def test_too_warm_for_longer_than_the_delay_sounds(kitchen: Kitchen) -> None:
    kitchen.probe(3.0, 5)
    kitchen.probe(8.0, 30, start=5)  # minutes 5..34: out for 29 minutes
    assert kitchen.quiet()
    assert kitchen.alarm.statuses["fridge-1"].state is ExcursionState.PENDING
    kitchen.probe(8.0, 1, start=35)
    assert kitchen.sounding()
    assert wait_for(lambda: kitchen.led.state)  # blinking with it


def test_a_short_spike_stays_quiet(kitchen: Kitchen) -> None:
    kitchen.probe(9.0, 10)
    kitchen.probe(3.0, 60, start=10)
    assert kitchen.quiet()
    assert kitchen.alarm.statuses["fridge-1"].state is ExcursionState.OK


def test_silence_mutes_for_15_minutes_then_sounds_again(kitchen: Kitchen) -> None:
    kitchen.probe(8.0, 31)
    assert kitchen.sounding()
    kitchen.press_silence()
    assert kitchen.alarm.output is AlarmOutput.SILENCED
    assert kitchen.buzzer.state is False
    assert kitchen.led.state is True  # steady: still out of range
    kitchen.probe(8.0, 14, start=31)  # minutes 31..44
    assert kitchen.quiet()
    kitchen.probe(8.0, 1, start=45)  # 15 minutes after the press at minute 30
    assert kitchen.sounding()


def test_back_in_range_turns_everything_off(kitchen: Kitchen) -> None:
    kitchen.probe(8.0, 31)
    assert kitchen.sounding()
    kitchen.probe(4.0, 1, start=31)
    assert kitchen.alarm.output is AlarmOutput.OFF
    assert kitchen.buzzer.state is False
    assert kitchen.led.state is False


def test_recovery_during_silence_re_arms(kitchen: Kitchen) -> None:
    kitchen.probe(8.0, 31)
    kitchen.press_silence()
    kitchen.probe(3.0, 2, start=31)
    assert kitchen.alarm.output is AlarmOutput.OFF
    kitchen.probe(8.0, 31, start=33)  # a new excursion, still within the old silence
    assert kitchen.sounding()


def test_silence_with_nothing_alarming_does_nothing(kitchen: Kitchen) -> None:
    kitchen.probe(3.0, 1)
    kitchen.press_silence()
    kitchen.probe(8.0, 31, start=1)
    assert kitchen.sounding()


def test_a_silent_probe_sounds(kitchen: Kitchen) -> None:
    kitchen.probe(3.0, 1)
    kitchen.alarm.poll(T0 + timedelta(minutes=14))
    assert kitchen.quiet()
    kitchen.alarm.poll(T0 + timedelta(minutes=15))
    assert kitchen.sounding()
    assert kitchen.alarm.statuses["fridge-1"].cause is ExcursionCause.NO_PROBE


def test_readings_of_other_sensors_are_ignored(kitchen: Kitchen) -> None:
    kitchen.alarm.observe(TemperatureReading(sensor="freezer-1", ts=T0, celsius=20.0))
    assert set(kitchen.alarm.statuses) == {"fridge-1"}


def test_buzzer_only(mock_factory: Any) -> None:
    kitchen = Kitchen(mock_factory, led_pin=None, silence_pin=None)
    kitchen.probe(8.0, 31)
    assert kitchen.sounding()
    kitchen.alarm.close()


def test_fed_by_the_probe_with_no_network(mock_factory: Any, tmp_path: Path) -> None:
    """The hook the agent uses: the probe source calls the alarm directly, no MQTT."""
    kitchen = Kitchen(mock_factory)
    w1 = tmp_path / "28-0316a2795eff"
    w1.mkdir()
    (w1 / "w1_slave").write_text(
        "80 00 4b 46 7f ff 10 10 fb : crc=fb YES\n80 00 4b 46 7f ff 10 10 fb t=8000\n"
    )
    probe = DS18B20Source(
        DS18B20Config(sensor="fridge-1", address="28-0316a2795eff"),
        root=tmp_path,
        observer=kitchen.alarm.observe,
    )
    for minute in range(0, 31):
        probe.poll(T0 + timedelta(minutes=minute))
    assert kitchen.alarm.statuses["fridge-1"].state is ExcursionState.ALARMING
    assert kitchen.sounding()


def test_close_silences_and_releases(kitchen: Kitchen, mock_factory: Any) -> None:
    kitchen.probe(8.0, 31)
    kitchen.alarm.close()
    assert kitchen.buzzer.state is False
    Kitchen(mock_factory).alarm.close()  # the pins are free again


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"buzzer_pin": None, "led_pin": None}, "an alarm needs an output"),
        ({"led_pin": BUZZER}, "must differ"),
        ({"hysteresis_c": 3}, "too wide"),
        ({"units": [{"sensor": "fridge-1", "min_c": 5, "max_c": 0}]}, "must be below"),
        ({"units": []}, "at least 1"),
        ({"units": [{"sensor": "f", "min_c": 0, "max_c": 5}] * 2}, "once in units"),
    ],
)
def test_config_errors_are_clear(change: dict[str, object], message: str) -> None:
    data: dict[str, object] = {
        "type": "alarm",
        "buzzer_pin": BUZZER,
        "led_pin": LED,
        "units": [{"sensor": "fridge-1", "min_c": 0, "max_c": 5}],
    }
    with pytest.raises(ValidationError, match=message):
        AlarmConfig.model_validate(data | change)
