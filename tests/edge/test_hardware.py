"""Real-hardware checks of the drivers, for a Raspberry Pi on the bench; never run in CI.

Each test runs only when its environment variable names the hardware to use:

    CANTEEN_HW_W1_DEVICE=28-0316a2795eff   a DS18B20 (CANTEEN_HW_W1_ROOT overrides the sysfs root)
    CANTEEN_HW_DOOR_PIN=17                 a reed switch to ground
    CANTEEN_HW_BUZZER_PIN=22               an active buzzer (it beeps for about a second)
    CANTEEN_HW_HX711_DOUT=5, CANTEEN_HW_HX711_SCK=6   an HX711 with a load cell
    CANTEEN_HW_SERIAL_SCALE=/dev/ttyUSB0   a streaming bench scale (CANTEEN_HW_SERIAL_BAUD)

Run with `pytest -m hardware tests/edge/test_hardware.py`.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.hardware


def env(name: str, what: str) -> str:
    """The variable's value, or skip the test saying how to enable it."""
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"no {what}: set {name} to run this on a Pi")
    return value


def test_ds18b20_probe_reads_a_plausible_temperature() -> None:
    from edge.drivers.ds18b20 import W1_ROOT, DS18B20Config, DS18B20Source

    address = env("CANTEEN_HW_W1_DEVICE", "DS18B20 probe")
    root = Path(os.environ.get("CANTEEN_HW_W1_ROOT", str(W1_ROOT)))
    source = DS18B20Source(DS18B20Config(sensor="bench-probe", address=address), root=root)
    now = datetime.now(UTC)
    readings = [r for i in range(3) for r in source.poll(now + timedelta(seconds=i))]
    assert source.faults == 0, source.last_fault
    assert len(readings) == 3


def test_door_switch_reports_its_state() -> None:
    from edge.drivers.door import DoorConfig, DoorSource

    pin = int(env("CANTEEN_HW_DOOR_PIN", "door switch"))
    source = DoorSource(DoorConfig(sensor="bench-door", pin=pin))
    try:
        (reading,) = source.poll(datetime.now(UTC))
        assert reading.kind == "door"
    finally:
        source.close()


def test_buzzer_sounds_for_a_silent_probe() -> None:
    from edge.drivers.alarm import AlarmConfig, AlarmOutput, LocalAlarm

    pin = int(env("CANTEEN_HW_BUZZER_PIN", "buzzer"))
    config = AlarmConfig.model_validate(
        {
            "buzzer_pin": pin,
            "units": [{"sensor": "bench", "min_c": 0, "max_c": 5, "missing_minutes": 0.01}],
        }
    )
    alarm = LocalAlarm(config)
    try:
        assert alarm.update(datetime.now(UTC) + timedelta(seconds=1)) is AlarmOutput.SOUNDING
        time.sleep(1.0)  # let a person hear it
    finally:
        alarm.close()


def test_hx711_reads_within_the_timing_limit() -> None:
    from edge.drivers.hx711 import HX711, HX711TooSlow

    dout = int(env("CANTEEN_HW_HX711_DOUT", "HX711"))
    sck = int(env("CANTEEN_HW_HX711_SCK", "HX711"))
    chip = HX711(dout, sck)
    values, too_slow = [], 0
    try:
        for _ in range(20):
            try:
                values.append(chip.read_raw())
            except HX711TooSlow:
                too_slow += 1
    finally:
        chip.close()
    assert too_slow <= 10, f"{too_slow} of 20 reads had a pulse over 50 µs"
    assert max(values) - min(values) < 100_000, "a steady load should read steadily"


def test_serial_scale_streams_weights() -> None:
    from edge.drivers.serial_scale import SerialScale, SerialScaleConfig

    port = env("CANTEEN_HW_SERIAL_SCALE", "serial scale")
    baud = int(os.environ.get("CANTEEN_HW_SERIAL_BAUD", "9600"))
    scale = SerialScale.from_config(SerialScaleConfig(port=port, baudrate=baud))
    try:
        deadline = time.monotonic() + 5
        sample = None
        while sample is None and time.monotonic() < deadline:
            sample = scale.read()
            time.sleep(0.05)
        assert sample is not None, "no weight line within 5 s: check baud rate and mode"
    finally:
        scale.close()
