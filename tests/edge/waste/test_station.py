"""The waste station source: scale, drop detection, category buttons and the dish."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import serial
from pydantic import ValidationError

from edge.drivers import ScaleError, ScaleSample
from edge.waste.station import WasteStation, WasteStationConfig, read_menu_dish
from protocol import DeviceConfig, WasteCategory, WasteReading

T0 = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
STEP = timedelta(seconds=0.2)


class FakeScale:
    """A scale that reports the weights a test gives it, one per read."""

    def __init__(self) -> None:
        self.weights: list[float | Exception] = []
        self.closed = False
        self.tared = False

    def read(self) -> ScaleSample | None:
        if not self.weights:
            return None
        weight = self.weights.pop(0)
        if isinstance(weight, Exception):
            raise weight
        return ScaleSample(weight)

    def tare(self) -> None:
        self.tared = True

    def close(self) -> None:
        self.closed = True


def config(**overrides: object) -> WasteStationConfig:
    data: dict[str, object] = {
        "type": "waste_station",
        "sensor": "bin-plate",
        "scale": {"type": "serial_scale", "port": "loop://"},
    }
    return WasteStationConfig.model_validate(data | overrides)


class Station:
    """A station on a fake scale, polled every 0.2 s of a fake clock."""

    def __init__(self, factory: Any = None, **overrides: object) -> None:
        self.now = T0
        self.scale = FakeScale()
        self.station = WasteStation(
            config(**overrides), scale=self.scale, pin_factory=factory, clock=lambda: self.now
        )

    def weigh(self, seconds: float, grams: float) -> list[Any]:
        self.scale.weights += [grams] * round(seconds / 0.2)
        return self.run()

    def run(self) -> list[Any]:
        readings = []
        while self.scale.weights:
            readings += self.station.poll(self.now)
            self.now += STEP
        return readings

    def scrape(self, base: float, grams: float) -> list[Any]:
        """Settle at `base`, then a drop of `grams`; return the readings."""
        return self.weigh(5, base) + self.weigh(5, base + grams)


def only(readings: Iterable[Any]) -> WasteReading:
    (reading,) = readings
    assert isinstance(reading, WasteReading)
    return reading


def test_a_drop_becomes_a_reading() -> None:
    bench = Station()
    reading = only(bench.scrape(1000, 412))
    assert reading.sensor == "bin-plate"
    assert reading.grams == 412.0
    assert reading.category is WasteCategory.PLATE
    assert reading.dish is None
    assert T0 + timedelta(seconds=7) <= reading.ts <= T0 + timedelta(seconds=8)


def test_the_bins_own_category() -> None:
    assert only(Station(category="prep").scrape(0, 100)).category is WasteCategory.PREP


def test_a_button_press_sets_the_next_drops_category(mock_factory: Any) -> None:
    bench = Station(
        mock_factory,
        category="prep",
        buttons=[{"pin": 5, "category": "spoilage"}, {"pin": 6, "category": "overproduction"}],
        button_timeout_s=30,
    )
    bench.weigh(5, 0)
    pin = mock_factory.pin(5)
    pin.drive_low()
    pin.drive_high()
    assert only(bench.weigh(5, 250)).category is WasteCategory.SPOILAGE
    assert only(bench.weigh(5, 400)).category is WasteCategory.PREP  # used up
    mock_factory.pin(6).drive_low()
    bench.weigh(40, 400)  # the press times out
    assert only(bench.weigh(5, 600)).category is WasteCategory.PREP
    bench.station.close()
    assert bench.scale.closed


def test_the_dish_from_config_menu_file_and_hub(tmp_path: Path) -> None:
    menu = tmp_path / "menu.json"
    bench = Station(dish="rice", menu_file=str(menu))
    assert only(bench.scrape(0, 100)).dish == "rice"  # no menu file yet
    menu.write_text(json.dumps({"dish": "braised-pork"}))
    assert only(bench.weigh(5, 200)).dish == "braised-pork"
    bench.station.set_dish("tomato-egg")
    assert only(bench.weigh(5, 300)).dish == "tomato-egg"
    bench.station.set_dish(None)
    menu.write_text(json.dumps({"dish": None}))
    assert only(bench.weigh(5, 400)).dish == "rice"


def test_a_bad_menu_file_keeps_the_last_dish(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    menu = tmp_path / "menu.json"
    menu.write_text('{"dish": "congee"}')
    bench = Station(menu_file=str(menu))
    assert bench.station.dish == "congee"
    menu.write_text('{"dish": "Not A Slug!!"}')
    with caplog.at_level(logging.WARNING):
        assert bench.station.dish == "congee"
    assert "must be a slug" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1]", "expected an object"), ("{", "cannot read"), ('{"dish": 3}', "must be a slug")],
)
def test_menu_file_errors(tmp_path: Path, text: str, message: str) -> None:
    menu = tmp_path / "menu.json"
    menu.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_menu_dish(menu)


def test_set_dish_refuses_a_bad_slug() -> None:
    with pytest.raises(ValueError, match="slug"):
        Station().station.set_dish("Braised Pork")


def test_the_category_from_the_hub_replaces_the_bins_own_but_not_a_button_press(
    mock_factory: Any,
) -> None:
    bench = Station(mock_factory, category="plate", buttons=[{"pin": 5, "category": "spoilage"}])
    bench.weigh(5, 0)
    bench.station.set_category(WasteCategory.OVERPRODUCTION)
    assert only(bench.weigh(5, 200)).category is WasteCategory.OVERPRODUCTION
    mock_factory.pin(5).drive_low()
    mock_factory.pin(5).drive_high()
    assert only(bench.weigh(5, 400)).category is WasteCategory.SPOILAGE  # the press wins
    bench.station.set_category("prep")  # as a string too
    assert only(bench.weigh(5, 600)).category is WasteCategory.PREP
    bench.station.set_category(None)  # back to the bin's own
    assert bench.station.category is WasteCategory.PLATE
    assert only(bench.weigh(5, 800)).category is WasteCategory.PLATE


def test_two_bins_of_one_device_each_take_their_own_category_from_the_config() -> None:
    # the example waste-station.yaml: a plate bin and a prep bin, one station each
    plate, prep = Station(sensor="bin-plate", category="plate"), Station(sensor="bin-prep")
    pushed = DeviceConfig.model_validate(
        {"v": 1, "categories": {"bin-plate": "overproduction", "bin-prep": "spoilage"}}
    )
    for bench in (plate, prep):
        bench.station.set_category(pushed.category_of(bench.station.name))
    assert only(plate.scrape(0, 200)).category is WasteCategory.OVERPRODUCTION
    assert only(prep.scrape(0, 300)).category is WasteCategory.SPOILAGE
    cleared = DeviceConfig.model_validate({"v": 1, "categories": {"bin-prep": "spoilage"}})
    for bench in (plate, prep):
        bench.station.set_category(cleared.category_of(bench.station.name))
    assert only(plate.weigh(5, 400)).category is WasteCategory.PLATE  # its own again
    assert only(prep.weigh(5, 600)).category is WasteCategory.SPOILAGE  # untouched


def test_set_category_refuses_an_unknown_category() -> None:
    station = Station(category="prep").station
    with pytest.raises(ValueError, match="category must be one of plate, prep"):
        station.set_category("compost")
    assert station.category is WasteCategory.PREP


def test_scale_errors_give_no_reading_and_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    bench = Station()
    bench.scale.weights = [ScaleError("HX711 not ready")] * 3
    with caplog.at_level(logging.WARNING):
        assert bench.run() == []
    assert bench.station.scale_errors == 3
    assert caplog.text.count("not ready") == 1  # rate-limited
    assert only(bench.scrape(0, 80)).grams == 80.0


def test_end_to_end_with_a_serial_scale_on_loop() -> None:
    port = serial.serial_for_url("loop://", timeout=0)
    station = WasteStation(config(), serial_port=port)
    readings = []
    now = T0
    for weight in [1.000] * 25 + [1.300] * 25:
        port.write(f"ST,GS,+{weight:9.3f}kg\r\n".encode("ascii"))
        readings += station.poll(now)
        now += STEP
    assert only(readings).grams == 300.0
    station.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scale": {"type": "scale9000"}}, "does not match any of the expected tags"),
        ({"category": "compost"}, "category"),
        ({"detector": {"min_drop_g": 5, "tolerance_g": 5}}, "tolerance_g must be below"),
        (
            {
                "scale": {"type": "hx711", "dout_pin": 5, "sck_pin": 6, "calibration_file": "c"},
                "buttons": [{"pin": 6, "category": "prep"}],
            },
            "distinct pins",
        ),
        ({"shape": "round"}, "shape"),
    ],
)
def test_config_errors_are_clear(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(**change)


def test_config_example() -> None:
    example = config(
        category="prep",
        scale={
            "type": "hx711",
            "dout_pin": 5,
            "sck_pin": 6,
            "calibration_file": "/var/lib/canteen-edge/bin-prep.json",
        },
        buttons=[{"pin": 13, "category": "spoilage"}],
        detector={"min_drop_g": 30},
    )
    assert example.name == "bin-plate"
    assert example.detector.settings().min_drop_g == 30
