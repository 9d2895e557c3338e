"""Every reading goes into the outbox before anything is sent, whatever the clock or disk.

While the Pi cannot tell that NTP has set its clock (`ClockTrust`), readings are held
in the outbox with the boot they were taken in and a monotonic basis, and re-stamped
once it can; while the outbox cannot write (a full disk), up to `MAX_UNSAVED` readings
wait in memory, oldest dropped, and are written as soon as it can.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edge.clock_trust import ClockTrust
from edge.outbox import Outbox, OutboxError
from protocol import Reading

logger = logging.getLogger(__name__)

MAX_UNSAVED = 10_000
"""Readings held in memory while the outbox cannot write (disk full), oldest dropped."""


class Keeper:
    """Puts a device's readings in its outbox, held there while the clock is not trusted."""

    def __init__(
        self, outbox: Outbox, clock_trust: ClockTrust, clock_basis_ns: Callable[[], int]
    ) -> None:
        self.outbox = outbox
        self._clock_trust, self._clock_basis_ns = clock_trust, clock_basis_ns
        self._unsaved: list[Reading] = []

    def unsaved(self) -> int:
        """How many readings wait in memory for the outbox to write again."""
        return len(self._unsaved)

    def keep(self, readings: list[Reading]) -> None:
        """Put readings in the outbox; hold them in memory while it cannot write."""
        waiting = self._unsaved + readings
        trusted = self._clock_trust.trusted()
        if trusted and self.outbox.held():
            self._release_held()
        if not waiting:
            return
        try:
            if trusted:
                self.outbox.add(waiting)
            else:
                self.outbox.hold(waiting, self._clock_trust.boot_id, self._clock_basis_ns())
        except OutboxError as err:
            logger.error("cannot keep %d readings, will retry: %s", len(waiting), err)
            self._unsaved = waiting[-MAX_UNSAVED:]
        else:
            self._unsaved = []

    def _release_held(self) -> None:
        try:
            corrected, unverified = self.outbox.release(
                self._clock_trust.boot_id, self._clock_basis_ns()
            )
        except OutboxError as err:
            logger.error("cannot release readings held for the clock, will retry: %s", err)
            return
        logger.info("clock set: %d held readings re-stamped with the right time", corrected)
        if unverified:
            logger.warning(
                "%d readings were taken in an earlier boot before its clock was set; "
                "sent with their original, unverified timestamps",
                unverified,
            )
