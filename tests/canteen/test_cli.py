"""The `canteen` command loads what the asked-for command needs: an edge agent, no more."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from canteen.cli import COMMAND_MODULES, build_parser, main

REPO = Path(__file__).resolve().parents[2]
EDGE_COMMAND = """
import json, sys
from canteen.cli import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def _run_in_fresh_interpreter(*argv: str) -> tuple[int, set[str]]:
    """`canteen ARGV...` in a new process: its exit status and the modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", EDGE_COMMAND, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    return result["status"], set(result["modules"])


@pytest.mark.parametrize("argv", [("edge",), ("-v", "edge")])
def test_canteen_edge_imports_no_other_commands_module(tmp_path: Path, argv: tuple[str]) -> None:
    missing = tmp_path / "absent.yaml"  # the agent stops at its config: imports are done
    status, modules = _run_in_fresh_interpreter(*argv, "--config", str(missing))

    assert status == 2
    assert "edge.config" in modules
    assert modules.isdisjoint(COMMAND_MODULES), modules & set(COMMAND_MODULES)
    assert "argon2" not in modules and "edge.waste.station" not in modules


def test_the_full_parser_still_has_every_modules_commands() -> None:
    text = build_parser().format_help()

    for command in ("scale", "broker", "device", "user", "kiosk-token", "retention", "backup"):
        assert command in text


@pytest.mark.parametrize("argv", [["user", "--help"], ["-v", "scale", "--help"]])
def test_a_modules_command_is_found_from_the_command_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)

    assert stopped.value.code == 0
    assert f"usage: canteen {argv[-2]}" in capsys.readouterr().out
