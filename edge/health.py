"""Health of the Pi for the status message: CPU temperature, free disk, clock sync.

A Raspberry Pi has no battery-backed clock: after a power cut it boots with the
time it had at shutdown until NTP answers. The agent stamps readings with the
clock it has and reports `clock_synced` in its status so the hub can see which
readings came from an untrusted clock; the hub also sees the skew from `sent`.
Correcting readings stamped before the clock was trusted is a separate feature;
this module only tells whether the clock is trusted now.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")
TIMEDATECTL_QUERY = ("show", "-p", "NTPSynchronized", "--value")

Runner = Callable[[Sequence[str]], str | None]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One look at the Pi's health; None where the Pi cannot tell."""

    cpu_temp_c: float | None
    disk_free_mb: float | None
    clock_synced: bool | None


def cpu_temp_c(path: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature in °C from the kernel's thermal zone (millidegrees), if any."""
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def disk_free_mb(path: Path) -> float | None:
    """Free space in MB on the file system holding `path` (the agent's state)."""
    try:
        return round(shutil.disk_usage(path).free / 1_000_000, 1)
    except OSError:
        return None


def run_timedatectl(args: Sequence[str]) -> str | None:
    """Run `timedatectl` with fixed arguments; None if it is missing or fails."""
    program = shutil.which("timedatectl")
    if program is None:
        return None
    import subprocess  # only here: where systemd-timesyncd's marker exists it is never needed

    try:
        done = subprocess.run(  # noqa: S603  (fixed program and arguments, no shell)
            [program, *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError) as err:
        logger.debug("timedatectl failed: %s", err)
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def clock_synced(marker: Path = TIMESYNC_MARKER, run: Runner = run_timedatectl) -> bool | None:
    """Tell whether NTP has set the clock; None if this system cannot say.

    systemd-timesyncd (Raspberry Pi OS) creates `marker` once synchronised; where it
    is absent, ask `timedatectl`, which also covers chrony and ntpd.
    """
    if marker.exists():
        return True
    answer = run(TIMEDATECTL_QUERY)
    if answer is None:
        return None
    return answer == "yes"


@dataclass
class HealthProbe:
    """Reads the Pi's health; paths and the command runner are injectable for tests."""

    state_dir: Path
    thermal_zone: Path = THERMAL_ZONE
    timesync_marker: Path = TIMESYNC_MARKER
    run: Runner = field(default=run_timedatectl)

    def clock_synced(self) -> bool | None:
        """Whether NTP has set the clock (see `clock_synced`)."""
        return clock_synced(self.timesync_marker, self.run)

    def read(self) -> HealthReport:
        """Take one reading of every health field."""
        return HealthReport(
            cpu_temp_c=cpu_temp_c(self.thermal_zone),
            disk_free_mb=disk_free_mb(self.state_dir),
            clock_synced=clock_synced(self.timesync_marker, self.run),
        )
