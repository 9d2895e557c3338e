"""`canteen scale`: the command that tares and calibrates a waste station's scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from canteen.cli import main
from canteen.settings import SettingsError
from edge.drivers import ScaleError
from edge.scale_cli import scale_command

DEVICE = """
site: site-a
device: waste-station
state_dir: {state}
sensors:
  - type: waste_station
    sensor: bin-prep
    category: prep
    scale: {{type: serial_scale, port: "loop://", tare_command: "T\\r\\n"}}
"""


@pytest.fixture
def device_file(tmp_path: Path) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(DEVICE.format(state=tmp_path / "state"), encoding="utf-8")
    return path


def test_tare_and_read_a_serial_scale(device_file: Path) -> None:
    assert (
        scale_command("tare", device_file, "bin-prep", None)
        == "bin-prep: tared (the present load is now zero)"
    )
    # a loopback port echoes our own tare command, which is no weight
    assert scale_command("read", device_file, "bin-prep", None) == "bin-prep: no stable weight yet"


def test_a_serial_scale_is_not_calibrated_from_here(device_file: Path) -> None:
    with pytest.raises(ScaleError, match="calibrates itself"):
        scale_command("calibrate", device_file, "bin-prep", 2000.0)
    with pytest.raises(ScaleError, match="needs --grams"):
        scale_command("calibrate", device_file, "bin-prep", None)


def test_an_unknown_bin_names_the_ones_there(device_file: Path) -> None:
    with pytest.raises(SettingsError, match=r"no waste_station named 'bin-x' \(it has: bin-prep\)"):
        scale_command("tare", device_file, "bin-x", None)


def test_the_command_line_reports_the_error_and_exits_2(
    device_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["scale", "calibrate", "--config", str(device_file), "--sensor", "bin-prep"])
    assert code == 2
    assert "needs --grams" in capsys.readouterr().err
