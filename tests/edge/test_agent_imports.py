"""An agent imports the modules of the sensor types it has: no camera stack without a camera.

Each case runs the real composition root (`edge.app.run_device`) in a fresh interpreter on
one of the example device files (broker, state folder, 1-Wire tree, serial port and
camera moved to harmless stand-ins, pins on gpiozero's `MockFactory` where there are
pins), lets the agent go round its loop
a few times, then reports which modules the process had loaded. The camera stack (OpenCV,
NumPy, `edge.camera`) must appear only for the entrance camera, and a sensor type's
modules only where that type is configured.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "firmware_config" / "examples"
CAMERA_STACK = ("cv2", "numpy", "edge.camera")
AGENT = """
import json, sys, threading
from pathlib import Path
from edge.app import OUTBOX_FILE, run_device
from edge.build import BuildContext
from edge.config import load_config
from edge.drivers import utc_now
from edge.outbox import Outbox


class Rounds:
    '''Stands in for the systemd notifier: stops the agent after its first rounds.'''

    def __init__(self, stop):
        self.stop, self.count = stop, 0

    def ready(self):
        pass

    def alive(self):
        self.count += 1
        if self.count == 3:
            self.stop.set()

    def stopping(self):
        pass


config = load_config(sys.argv[1], env={})
pins = None
if any(s.type in ("door", "alarm", "waste_station") for s in config.sensors):
    from gpiozero.pins.mock import MockFactory  # only where the device has pins

    pins = MockFactory()
stop = threading.Event()
rounds = Rounds(stop)
context = BuildContext(site=config.site, device=config.device, clock=utc_now,
                       w1_root=Path(sys.argv[2]), pin_factory=pins)
run_device(config, config.mqtt_settings(), context, stop, rounds)
outbox = Outbox(config.state_dir / OUTBOX_FILE, config.outbox_max_readings)
kept = outbox.pending() + outbox.held()
outbox.close()
print(json.dumps({"rounds": rounds.count, "kept": kept, "modules": sorted(sys.modules)}))
"""
W1_SLAVE = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"


def closed_port() -> int:
    """A loopback port nobody listens on (the agent's connects are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def on_stand_ins(example: str, tmp_path: Path) -> tuple[Path, Path]:
    """The example device file with its broker, paths and ports moved into `tmp_path`."""
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text.replace("/var/lib/canteen-edge", str(tmp_path)))
    data["mqtt_url"] = f"mqtt://127.0.0.1:{closed_port()}"
    data.pop("mqtt_ca_file", None)
    w1 = tmp_path / "w1"
    for sensor in data["sensors"]:
        if sensor["type"] == "ds18b20":
            (w1 / sensor["address"]).mkdir(parents=True)
            (w1 / sensor["address"] / "w1_slave").write_text(W1_SLAVE, encoding="ascii")
        if sensor["type"] == "waste_station" and sensor["scale"]["type"] == "serial_scale":
            sensor["scale"]["port"] = "loop://"
        if sensor["type"] == "people_counter":
            sensor["camera"] = str(tmp_path / "no-such-video.mp4")
    config = tmp_path / example
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    return config, w1


def run_agent(example: str, tmp_path: Path) -> dict[str, Any]:
    """Run the agent on an example file; return its rounds, readings kept and modules."""
    config, w1 = on_stand_ins(example, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANTEEN_MQTT")}
    done = subprocess.run(
        [sys.executable, "-c", AGENT, str(config), str(w1)],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert report["rounds"] == 3
    return report


def loaded(report: dict[str, Any], packages: tuple[str, ...]) -> list[str]:
    """The modules of `packages` (and their submodules) the agent had imported."""
    return [
        name
        for name in report["modules"]
        if any(name == p or name.startswith(f"{p}.") for p in packages)
    ]


@pytest.mark.parametrize(
    ("example", "configured", "not_configured"),
    [
        (
            "fridge-node.yaml",
            ("edge.drivers.ds18b20", "edge.drivers.door", "edge.drivers.alarm"),
            ("edge.waste", "edge.drivers.hx711", "edge.drivers.serial_scale", "serial"),
        ),
        (
            "waste-station.yaml",
            ("edge.waste.station", "edge.drivers.hx711", "edge.drivers.serial_scale", "serial"),
            ("edge.drivers.ds18b20", "edge.drivers.door", "edge.drivers.alarm"),
        ),
        (
            "simulated-fridge-node.yaml",
            ("edge.simulation.cold_units",),
            ("edge.drivers.ds18b20", "edge.drivers.door", "edge.waste", "gpiozero"),
        ),
    ],
)
def test_an_agent_without_a_camera_never_imports_the_camera_stack(
    tmp_path: Path,
    example: str,
    configured: tuple[str, ...],
    not_configured: tuple[str, ...],
) -> None:
    report = run_agent(example, tmp_path)
    assert loaded(report, CAMERA_STACK) == []
    assert loaded(report, not_configured) == []
    assert sorted(set(configured) - set(report["modules"])) == []


def test_the_fridge_node_reads_its_probes_in_those_rounds(tmp_path: Path) -> None:
    """The check above ran a working agent, not one that stopped before its sensors."""
    assert run_agent("fridge-node.yaml", tmp_path)["kept"] >= 3


def test_the_entrance_camera_does_import_it(tmp_path: Path) -> None:
    """The same check sees the camera stack where a camera is configured."""
    pytest.importorskip("cv2", reason="OpenCV is installed only with the camera extra")
    report = run_agent("entrance-camera.yaml", tmp_path)
    assert {"cv2", "numpy", "edge.camera.source"} <= set(report["modules"])
    assert loaded(report, ("edge.drivers", "edge.waste", "gpiozero")) == ["edge.drivers"]
