"""`canteen scale`: tare and calibrate a waste station's scale from its device file.

Run on the waste-station Pi with the agent stopped (it holds the pins):

    canteen scale tare --config /etc/canteen/edge.yaml --sensor bin-plate
    canteen scale calibrate --config /etc/canteen/edge.yaml --sensor bin-plate --grams 2000
    canteen scale read --config /etc/canteen/edge.yaml --sensor bin-plate

An HX711 scale keeps its tare offset and counts per gram in the bin's
`calibration_file`; a serial bench scale is tared by sending its `tare_command` and
calibrates itself.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from canteen.settings import SettingsError
from edge.config import ConfigError, load_config
from edge.drivers import ScaleError
from edge.drivers.hx711 import HX711Scale
from edge.waste.station import WasteStationConfig, open_scale


def _station(config_path: Path, sensor: str) -> WasteStationConfig:
    config = load_config(config_path)
    stations = [s for s in config.sensors if isinstance(s, WasteStationConfig)]
    for station in stations:
        if station.sensor == sensor:
            return station
    names = ", ".join(s.sensor for s in stations) or "none"
    raise ConfigError(f"{config_path} has no waste_station named {sensor!r} (it has: {names})")


def scale_command(
    action: str, config_path: Path, sensor: str, grams: float | None, pin_factory: Any = None
) -> str:
    """Tare, calibrate or read one bin's scale; return what to tell the user."""
    station = _station(config_path, sensor)
    scale = open_scale(station.scale, pin_factory=pin_factory)
    try:
        if action == "tare":
            scale.tare()
            return f"{sensor}: tared (the present load is now zero)"
        if action == "calibrate":
            if grams is None or grams <= 0:
                raise ScaleError("calibrate needs --grams, the known weight now on the scale")
            if not isinstance(scale, HX711Scale):
                raise ScaleError("a serial bench scale calibrates itself; see its manual")
            per_gram = scale.calibrate(grams)
            return f"{sensor}: calibrated, {per_gram:.2f} counts per gram, saved"
        sample = scale.read()
        if sample is None:
            return f"{sensor}: no stable weight yet"
        return f"{sensor}: {sample.grams:.0f} g"
    finally:
        scale.close()


def _run(args: argparse.Namespace, _stop: threading.Event) -> None:
    try:
        print(scale_command(args.action, args.config, args.sensor, args.grams))
    except (ScaleError, OSError) as err:
        raise SettingsError(f"{args.sensor}: {err}") from err


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `canteen scale` to the command line."""
    scale = sub.add_parser("scale", help="tare, calibrate or read a waste station's scale")
    scale.add_argument("action", choices=["tare", "calibrate", "read"])
    scale.add_argument("--config", type=Path, required=True, help="the device's YAML file")
    scale.add_argument("--sensor", required=True, help="the bin, e.g. bin-plate")
    scale.add_argument("--grams", type=float, help="the known weight, for calibrate")
    scale.set_defaults(run=_run)
