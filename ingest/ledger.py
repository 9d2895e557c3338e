"""Per-device bookkeeping of sequence numbers and clock skew (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from protocol import epoch_ms


@dataclass(slots=True)
class DeviceRecord:
    """What the hub has seen of one device's messages."""

    last_seq: int = 0
    messages: int = 0
    gaps: int = 0
    repeats: int = 0
    skew_s: float = 0.0
    last_received: datetime | None = None


@lru_cache(maxsize=2)
def _received_ms(received: datetime) -> int:
    # The messages of one read share their receive time: one conversion for all of them.
    return epoch_ms(received)


class DeviceLedger:
    """Counts gaps and repeats in each device's `seq` and tracks its clock skew.

    A repeated or lower seq is normal after a reconnect (re-delivery); it only feeds the
    statistics. The skew is the hub's receive time minus the device's `sent`.
    """

    def __init__(self) -> None:
        self.devices: dict[tuple[str, str], DeviceRecord] = {}

    def record(self, site: str, device: str, seq: int, sent_ms: int, received: datetime) -> None:
        """Account for one telemetry message (`sent_ms`: its `sent`, ms since the epoch)."""
        entry = self.devices.setdefault((site, device), DeviceRecord())
        entry.messages += 1
        if entry.last_seq and seq <= entry.last_seq:
            entry.repeats += 1
        else:
            if entry.last_seq and seq > entry.last_seq + 1:
                entry.gaps += seq - entry.last_seq - 1
            entry.last_seq = seq
            entry.skew_s = (_received_ms(received) - sent_ms) / 1000
        entry.last_received = received
