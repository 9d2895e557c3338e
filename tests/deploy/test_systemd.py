"""The systemd units in deploy/systemd parse and start real `canteen` subcommands."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from canteen.cli import build_parser
from tests.deploy.files import DEPLOY, HUB_ENV_EXAMPLE, env_file

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
HUB_UNITS = {"canteen-ingest.service": "ingest", "canteen-dashboard.service": "dashboard"}


def _unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read(path, encoding="utf-8")
    return unit


def test_the_hub_units_exist() -> None:
    assert set(HUB_UNITS) <= {path.name for path in UNITS}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_a_canteen_subcommand_its_parser_accepts(path: Path) -> None:
    unit = _unit(path)
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    command = shlex.split(unit["Service"]["ExecStart"].replace("%i", "edge"))
    assert command[0].endswith("/.venv/bin/canteen"), command
    args = build_parser().parse_args(command[1:])  # exits (a test failure) when it is wrong
    if path.name in HUB_UNITS:
        assert args.command == HUB_UNITS[path.name]


@pytest.mark.parametrize("name", sorted(HUB_UNITS))
def test_the_hub_units_are_unprivileged_hardened_and_after_their_backends(name: str) -> None:
    path = DEPLOY / "systemd" / name
    unit = _unit(path)
    service = unit["Service"]
    for option in ("After", "Wants"):
        assert {"mosquitto.service", "influxdb.service"} <= set(unit["Unit"][option].split())
    assert service["User"] == "canteen"
    environment_files = re.findall(r"^EnvironmentFile=(.*)$", path.read_text(), re.MULTILINE)
    assert environment_files[0] == "/etc/canteen/hub.env"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    state_dir = env_file(HUB_ENV_EXAMPLE)["CANTEEN_STATE_DIR"]
    assert state_dir in service["ReadWritePaths"].split()
    assert f"/var/lib/{service['StateDirectory']}" == state_dir
    assert unit["Install"]["WantedBy"] == "multi-user.target"
