"""Whether the Pi's wall clock can be trusted yet, and how wrong it was before.

A Raspberry Pi has no battery clock. After a power cut it boots with the time
fake-hwclock saved at shutdown (or 1970) until NTP sets it, which can take minutes
with the kitchen Wi-Fi still coming up. Readings taken meanwhile are held in the
outbox with the boot they were taken in and the clock's error basis then
(wall time minus monotonic time); once NTP has set the clock, in the same boot, the
error is exactly the change of that basis, and every held timestamp is corrected by
it. Readings held in a boot that ended before the clock was set cannot be corrected:
they are released unchanged, counted and logged as unverified, never silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
RECHECK_S = 5.0


def read_boot_id(path: Path = BOOT_ID) -> str:
    """The kernel's id of this boot (a new random UUID at every boot)."""
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return "unknown-boot"


def clock_basis_ns(
    wall_ns: Callable[[], int] = time.time_ns, monotonic_ns: Callable[[], int] = time.monotonic_ns
) -> int:
    """Wall time minus monotonic time: constant while nobody sets the clock."""
    return wall_ns() - monotonic_ns()


class ClockTrust:
    """Ask whether NTP has set the clock until it has; then trust it for this boot.

    `check` returns True (synchronised), False (not yet) or None (this system cannot
    tell, e.g. no systemd-timesyncd: the clock is trusted, as before this feature).
    """

    def __init__(
        self,
        check: Callable[[], bool | None],
        boot_id: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.boot_id = boot_id
        self._check = check
        self._monotonic = monotonic
        self._trusted = False
        self._next_check = monotonic()

    def trusted(self) -> bool:
        """Whether readings may be stamped with the wall clock as it is."""
        if self._trusted:
            return True
        now = self._monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + RECHECK_S
        answer = self._check()
        if answer is None or answer:
            self._trusted = True
            if answer is None:
                logger.info("this system cannot say whether NTP set the clock; trusting it")
            else:
                logger.info("the clock is synchronised")
        else:
            logger.warning("the clock is not synchronised yet: holding readings to correct them")
        return self._trusted
