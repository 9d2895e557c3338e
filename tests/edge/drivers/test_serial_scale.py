"""Serial bench scales: the line parser, and the driver on pyserial's loop:// port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from edge.drivers import ScaleError, ScaleSample
from edge.drivers.serial_scale import (
    ScaleLineError,
    ScaleOverload,
    SerialScale,
    SerialScaleConfig,
    open_serial_port,
    parse_scale_line,
)


@pytest.mark.parametrize(
    ("line", "sample"),
    [
        ("ST,GS,+  1.234kg", ScaleSample(1234.0, True)),
        ("US,GS,+  1.234kg\r\n", ScaleSample(1234.0, False)),
        ("ST,NT,-    12.5 g", ScaleSample(-12.5, True)),
        ("ST,+00123.40  g", ScaleSample(123.4, True)),
        ("st,gs,+0.500KG", ScaleSample(500.0, True)),
        ("ST,GS,   0.000kg", ScaleSample(0.0, True)),
        ("ST,TR,+ 15g", ScaleSample(15.0, True)),
    ],
)
def test_parses_weight_lines(line: str, sample: ScaleSample) -> None:
    assert parse_scale_line(line) == sample


def test_overload_is_an_error() -> None:
    with pytest.raises(ScaleOverload):
        parse_scale_line("OL,GS,+  ----- kg")


@pytest.mark.parametrize(
    "line", ["", "hello", "ST,GS,+1.2lb", "ST,GS,+kg", "QT,GS,+1.0kg", "ST,GS,+1.0kg extra"]
)
def test_refuses_what_is_not_a_weight(line: str) -> None:
    with pytest.raises(ScaleLineError):
        parse_scale_line(line)


@given(
    st.sampled_from(["ST", "US"]),
    st.sampled_from(["GS,", "NT,", ""]),
    st.integers(min_value=-99_999_999, max_value=99_999_999),
    st.sampled_from(["kg", "g"]),
)
def test_formatted_weights_round_trip(status: str, mode: str, milli: int, unit: str) -> None:
    number = f"{abs(milli) / 1000:.3f}"
    line = f"{status},{mode}{'-' if milli < 0 else '+'}{number:>10}{unit}\r\n"
    sample = parse_scale_line(line)
    expected = milli if unit == "kg" else milli / 1000
    assert sample.grams == pytest.approx(expected, abs=1e-6)
    assert sample.stable is (status == "ST")


@pytest.fixture
def port() -> Iterator[Any]:
    loop = serial.serial_for_url("loop://", timeout=0)
    yield loop
    loop.close()


def test_reads_the_newest_line(port: Any) -> None:
    scale = SerialScale(port)
    assert scale.read() is None
    port.write(b"US,GS,+  0.100kg\r\nST,GS,+  0.120kg\r\n")
    assert scale.read() == ScaleSample(120.0, True)
    assert scale.read() is None


def test_a_line_split_across_reads(port: Any) -> None:
    scale = SerialScale(port)
    port.write(b"ST,GS,+  0.4")
    assert scale.read() is None
    port.write(b"12kg\r\n")
    assert scale.read() == ScaleSample(412.0, True)


def test_garbage_is_counted_and_skipped(port: Any) -> None:
    scale = SerialScale(port)
    port.write(b"\x00\xffnoise\r\nST,GS,+  0.050kg\r\n\r\n")
    assert scale.read() == ScaleSample(50.0, True)
    assert scale.bad_lines == 1


def test_a_runaway_line_is_dropped(port: Any) -> None:
    scale = SerialScale(port)
    port.write(b"x" * 1000)
    assert scale.read() is None
    port.write(b"\r\nST,GS,+  0.050kg\r\n")
    assert scale.read() == ScaleSample(50.0, True)


def test_overload_is_raised(port: Any) -> None:
    scale = SerialScale(port)
    port.write(b"OL,GS,+  ----- kg\r\n")
    with pytest.raises(ScaleOverload):
        scale.read()


def test_tare_sends_the_command(port: Any) -> None:
    SerialScale(port, tare_command="Z\r\n").tare()
    assert port.read(port.in_waiting) == b"Z\r\n"


def test_no_tare_command_is_a_clear_error(port: Any) -> None:
    with pytest.raises(ScaleError, match="no tare_command"):
        SerialScale(port, tare_command=None).tare()


def test_request_mode_asks_after_each_read(port: Any) -> None:
    scale = SerialScale(port, request_command="Q\r\n")
    assert scale.read() is None
    assert port.read(port.in_waiting) == b"Q\r\n"


def test_opens_the_configured_port() -> None:
    config = SerialScaleConfig.model_validate({"type": "serial_scale", "port": "loop://"})
    scale = SerialScale.from_config(config)
    scale.port.write(b"ST,GS,+  2.000kg\r\n")
    assert scale.read() == ScaleSample(2000.0, True)
    scale.close()
    again = open_serial_port(config)
    assert again.in_waiting == 0
    again.close()
