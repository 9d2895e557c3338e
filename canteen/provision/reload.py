"""Make the running broker re-read its password and ACL files (Mosquitto: SIGHUP).

Under systemd (`mosquitto.service` active) `systemctl reload mosquitto` does it, as the
service manager knows the right process; otherwise the pid in Mosquitto's pid file gets a
SIGHUP. When neither is there the caller is told so, with the command that would do it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

DEBIAN_PID_FILE = Path("/run/mosquitto/mosquitto.pid")
SYSTEMD_UNIT = "mosquitto"
ReloadHow = Literal["auto", "systemd", "pid", "none"]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What the reload did: `done`, and a sentence for the user either way."""

    done: bool
    message: str


def _systemd_unit_active(unit: str) -> bool:
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return False
    done = subprocess.run(  # noqa: S603  (fixed program and arguments, no shell)
        [systemctl, "is-active", "--quiet", unit], check=False, timeout=10
    )
    return done.returncode == 0


def _systemctl_reload(unit: str) -> ReloadResult:
    systemctl = shutil.which("systemctl") or "systemctl"
    done = subprocess.run(  # noqa: S603  (fixed program and arguments, no shell)
        [systemctl, "reload", unit], capture_output=True, text=True, check=False, timeout=30
    )
    if done.returncode != 0:
        return ReloadResult(
            False,
            f"`systemctl reload {unit}` failed: {done.stderr.strip()} - run it with sudo",
        )
    return ReloadResult(True, f"broker reloaded (systemctl reload {unit})")


def _read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    try:
        name = Path(f"/proc/{pid}/comm").read_text(encoding="ascii").strip()
    except OSError:
        return None  # a stale pid file: that process has gone
    return pid if name == "mosquitto" else None


def _signal_pid(pid_file: Path) -> ReloadResult:
    pid = _read_pid(pid_file)
    if pid is None:
        return ReloadResult(False, f"no running Mosquitto named in its pid file {pid_file}")
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        return ReloadResult(
            False, f"not allowed to signal Mosquitto (pid {pid}): run the command with sudo"
        )
    except ProcessLookupError:
        return ReloadResult(False, f"Mosquitto (pid {pid} in {pid_file}) has just exited")
    return ReloadResult(True, f"broker reloaded (SIGHUP to pid {pid} from {pid_file})")


def reload_broker(
    how: ReloadHow = "auto", pid_file: Path = DEBIAN_PID_FILE, unit: str = SYSTEMD_UNIT
) -> ReloadResult:
    """Ask the broker to re-read its password and ACL files; say what happened."""
    if how == "none":
        return ReloadResult(False, "broker not reloaded (--reload none)")
    if how == "systemd" or (how == "auto" and _systemd_unit_active(unit)):
        result = _systemctl_reload(unit)
    elif how == "pid" or pid_file.exists():
        result = _signal_pid(pid_file)
    else:
        result = ReloadResult(
            False,
            f"no systemd unit {unit!r} is active and there is no pid file {pid_file}",
        )
    if not result.done:
        result = ReloadResult(
            False,
            f"the broker was NOT reloaded: {result.message}. The files are written; make the "
            "broker read them with `sudo systemctl reload mosquitto`, "
            "`docker compose kill -s SIGHUP mosquitto`, or `kill -HUP <pid>` "
            "(or pass --pid-file with Mosquitto's pid_file)",
        )
    logger.debug("%s", result.message)
    return result
