"""Tell systemd the agent is up and still working (sd_notify), when run as a service.

With `Type=notify` and `WatchdogSec=` in the unit, systemd sets NOTIFY_SOCKET and
WATCHDOG_USEC. The agent says READY=1 once its loop runs and WATCHDOG=1 from that loop
at half the watchdog interval, so a hung agent (a stuck driver, a deadlock) is killed
and restarted. Outside systemd every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends READY, WATCHDOG and STOPPING to systemd's notify socket, if there is one."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written with a leading '@'.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.interval_s = int(usec) / 2_000_000 if usec.isdigit() and int(usec) > 0 else None
        self._monotonic = monotonic
        self._next_ping = 0.0

    @property
    def active(self) -> bool:
        """Whether systemd is listening."""
        return bool(self._address)

    def ready(self) -> None:
        """The service has started."""
        self._send(b"READY=1")

    def alive(self) -> None:
        """The main loop went round; pings the watchdog at most every half interval."""
        if self.interval_s is None:
            return
        now = self._monotonic()
        if now >= self._next_ping:
            self._next_ping = now + self.interval_s
            self._send(b"WATCHDOG=1")

    def stopping(self) -> None:
        """The service is shutting down on purpose."""
        self._send(b"STOPPING=1")

    def _send(self, message: bytes) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, self._address)
        except OSError as err:
            logger.warning("cannot notify systemd (%s): %s", message.decode(), err)
