"""DS18B20 probes against a temporary sysfs tree in the kernel's exact w1_slave format."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.drivers.ds18b20 import (
    DS18B20Config,
    DS18B20Probe,
    DS18B20Source,
    FaultReason,
    ProbeFault,
    discover_probes,
    parse_w1_slave,
)
from protocol import TemperatureReading

ADDRESS = "28-0316a2795eff"
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

# Exactly what a kernel printed (w1-therm documentation and a Pi on the bench).
KERNEL_23_125 = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
KERNEL_POWER_ON = "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"
KERNEL_ALL_ZERO = "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n"
KERNEL_NO_ANSWER = "ff ff ff ff ff ff ff ff ff : crc=c9 NO\nff ff ff ff ff ff ff ff ff t=-62\n"


def crc8(data: bytes) -> int:
    """The Dallas/Maxim 1-Wire CRC-8 the kernel checks."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def w1_slave(celsius: float, *, crc_ok: bool = True) -> str:
    """The w1_slave text the kernel prints for a DS18B20 at `celsius` (12-bit)."""
    raw = round(celsius * 16) & 0xFFFF
    body = bytes([raw & 0xFF, raw >> 8, 0x4B, 0x46, 0x7F, 0xFF, 0x10 - (raw & 0x0F), 0x10])
    crc = crc8(body)
    stored = crc if crc_ok else crc ^ 0x5A
    hexes = " ".join(f"{b:02x}" for b in [*body, stored])
    verdict = "YES" if crc_ok else "NO"
    milli = int((raw - 0x10000 if raw & 0x8000 else raw) * 1000 / 16)
    return f"{hexes} : crc={crc:02x} {verdict}\n{hexes} t={milli}\n"


class Sysfs:
    """A temporary /sys/bus/w1/devices with one probe whose file changes on each retry."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / ADDRESS / "w1_slave"
        self.path.parent.mkdir(parents=True)
        (root / "w1_bus_master1").mkdir()
        self.queue: list[str] = []
        self.sleeps: list[float] = []

    def show(self, *texts: str) -> None:
        """Show the first text now and each next one after a retry's sleep."""
        self.path.write_text(texts[0], encoding="ascii")
        self.queue = list(texts[1:])

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.queue:
            self.path.write_text(self.queue.pop(0), encoding="ascii")


@pytest.fixture
def sysfs(tmp_path: Path) -> Sysfs:
    return Sysfs(tmp_path / "devices")


def make_source(sysfs: Sysfs, **overrides: object) -> DS18B20Source:
    config = DS18B20Config.model_validate(
        {"type": "ds18b20", "sensor": "fridge-1", "address": ADDRESS, **overrides}
    )
    return DS18B20Source(config, root=sysfs.root, sleep=sysfs.sleep)


def test_generator_matches_the_kernel() -> None:
    assert w1_slave(23.125) == KERNEL_23_125


def test_parses_the_kernel_format() -> None:
    assert parse_w1_slave(KERNEL_23_125) == 23125
    assert parse_w1_slave(w1_slave(-18.5)) == -18500


@given(st.integers(min_value=-55 * 16, max_value=125 * 16).filter(lambda r: r != 85 * 16))
def test_every_12_bit_value_round_trips(raw: int) -> None:
    assert parse_w1_slave(w1_slave(raw / 16)) == int(raw * 1000 / 16)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (KERNEL_NO_ANSWER, FaultReason.CRC),
        (w1_slave(4.0, crc_ok=False), FaultReason.CRC),
        (KERNEL_POWER_ON, FaultReason.POWER_ON_RESET),
        (KERNEL_ALL_ZERO, FaultReason.DISCONNECTED),
        (w1_slave(-127.0), FaultReason.DISCONNECTED),
        ("", FaultReason.MALFORMED),
        ("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n", FaultReason.MALFORMED),
        (
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57\n",
            FaultReason.MALFORMED,
        ),
    ],
)
def test_refuses_what_is_not_a_temperature(text: str, reason: FaultReason) -> None:
    with pytest.raises(ProbeFault) as caught:
        parse_w1_slave(text)
    assert caught.value.reason == reason


def test_reading_has_the_calibration_offset(sysfs: Sysfs) -> None:
    sysfs.show(KERNEL_23_125)
    source = make_source(sysfs, offset_c=-0.2)
    assert source.poll(T0) == [TemperatureReading(sensor="fridge-1", ts=T0, celsius=22.925)]
    assert source.healthy
    assert sysfs.sleeps == []


def test_freezer_below_zero(sysfs: Sysfs) -> None:
    sysfs.show(w1_slave(-18.5))
    (reading,) = make_source(sysfs).poll(T0)
    assert isinstance(reading, TemperatureReading)
    assert reading.celsius == -18.5


@pytest.mark.parametrize("glitch", [KERNEL_POWER_ON, KERNEL_NO_ANSWER, KERNEL_ALL_ZERO, ""])
def test_a_glitch_is_retried_then_the_good_value_kept(sysfs: Sysfs, glitch: str) -> None:
    sysfs.show(glitch, w1_slave(3.5))
    source = make_source(sysfs, retry_delay_s=0.1)
    (reading,) = source.poll(T0)
    assert isinstance(reading, TemperatureReading)
    assert reading.celsius == 3.5
    assert sysfs.sleeps == [0.1]
    assert source.faults == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (KERNEL_POWER_ON, FaultReason.POWER_ON_RESET),
        (KERNEL_NO_ANSWER, FaultReason.CRC),
        (KERNEL_ALL_ZERO, FaultReason.DISCONNECTED),
    ],
)
def test_a_persistent_fault_gives_no_reading(sysfs: Sysfs, text: str, reason: FaultReason) -> None:
    sysfs.show(text)
    source = make_source(sysfs, retries=2)
    assert source.poll(T0) == []
    assert len(sysfs.sleeps) == 2
    assert source.faults == 1
    assert source.last_fault is not None
    assert source.last_fault.reason == reason
    assert source.last_fault_at == T0
    assert not source.healthy


def test_a_vanished_probe_is_not_retried(sysfs: Sysfs) -> None:
    sysfs.show(KERNEL_23_125)
    source = make_source(sysfs)
    assert len(source.poll(T0)) == 1
    sysfs.path.unlink()
    sysfs.path.parent.rmdir()
    assert source.poll(T0 + timedelta(seconds=30)) == []
    assert source.last_fault is not None
    assert source.last_fault.reason == FaultReason.MISSING
    assert sysfs.sleeps == []


def test_recovers_after_faults(sysfs: Sysfs) -> None:
    sysfs.show(KERNEL_NO_ANSWER)
    source = make_source(sysfs, retries=0)
    assert source.poll(T0) == []
    assert source.poll(T0 + timedelta(seconds=30)) == []
    assert source.consecutive_faults == 2
    sysfs.show(KERNEL_23_125)
    assert len(source.poll(T0 + timedelta(seconds=60))) == 1
    assert source.healthy
    assert source.faults == 2


def test_fault_warnings_are_rate_limited(sysfs: Sysfs, caplog: pytest.LogCaptureFixture) -> None:
    sysfs.show(KERNEL_NO_ANSWER)
    source = make_source(sysfs, retries=0)
    with caplog.at_level(logging.WARNING, logger="edge.drivers.ds18b20"):
        for minute in range(0, 25):  # a fault every minute for 25 minutes
            source.poll(T0 + timedelta(minutes=minute))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3  # minutes 0, 10 and 20
    assert "9 similar messages held back" in warnings[1]
    assert source.faults == 25


def test_observer_sees_each_good_reading(sysfs: Sysfs) -> None:
    seen: list[TemperatureReading] = []
    sysfs.show(KERNEL_23_125)
    config = DS18B20Config(sensor="fridge-1", address=ADDRESS)
    source = DS18B20Source(config, root=sysfs.root, sleep=sysfs.sleep, observer=seen.append)
    readings = source.poll(T0)
    assert seen == readings


def test_a_failing_observer_does_not_lose_the_reading(sysfs: Sysfs) -> None:
    def broken(reading: TemperatureReading) -> None:
        raise RuntimeError("boom")

    sysfs.show(KERNEL_23_125)
    config = DS18B20Config(sensor="fridge-1", address=ADDRESS)
    source = DS18B20Source(config, root=sysfs.root, observer=broken)
    assert len(source.poll(T0)) == 1


def test_io_error_is_a_fault(tmp_path: Path) -> None:
    (tmp_path / ADDRESS / "w1_slave").mkdir(parents=True)  # reading a directory: IsADirectoryError
    probe = DS18B20Probe(ADDRESS, root=tmp_path, retries=1, sleep=lambda _: None)
    with pytest.raises(ProbeFault) as caught:
        probe.read()
    assert caught.value.reason == FaultReason.IO_ERROR


def test_discover_lists_only_probes(sysfs: Sysfs, tmp_path: Path) -> None:
    assert discover_probes(sysfs.root) == [ADDRESS]
    assert discover_probes(tmp_path / "absent") == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"address": "28-XYZ"}, "address"),
        ({"sensor": "Fridge 1"}, "sensor"),
        ({"offset_c": 40}, "offset_c"),
        ({"colour": "red"}, "colour"),
        ({"interval_s": 0}, "interval_s"),
    ],
)
def test_config_errors_name_the_field(change: dict[str, object], field: str) -> None:
    data: dict[str, object] = {"type": "ds18b20", "sensor": "fridge-1", "address": ADDRESS}
    with pytest.raises(ValidationError) as caught:
        DS18B20Config.model_validate(data | change)
    assert caught.value.errors()[0]["loc"] == (field,)


def test_config_example_from_the_readme() -> None:
    config = DS18B20Config.model_validate(
        {
            "type": "ds18b20",
            "sensor": "fridge-1",
            "address": ADDRESS,
            "offset_c": -0.2,
            "interval_s": 30,
        }
    )
    assert (config.name, config.offset_c, config.retries) == ("fridge-1", -0.2, 3)
