"""What an alert is about and how urgent it is, and a rule's verdict on it.

Pure values shared by the rules, the store, the messages and the HACCP log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal


class AlertKind(StrEnum):
    """What an alert is about."""

    TEMPERATURE = "temperature"
    DOOR_OPEN = "door_open"
    PROBE_FAULT = "probe_fault"
    SENSOR_SILENT = "sensor_silent"
    DEVICE_OFFLINE = "device_offline"
    CLOCK = "clock"
    CLOCK_UNSYNCED = "clock_unsynced"
    PUBLISH_DENIED = "publish_denied"


class Severity(StrEnum):
    """How urgent: a warning, or critical (food may be unsafe now)."""

    WARNING = "warning"
    CRITICAL = "critical"


RANK = {None: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class AlertKey:
    """One watched thing: a sensor's kind of trouble, or a device's (sensor empty)."""

    site: str
    device: str
    sensor: str
    kind: AlertKind

    def text(self) -> str:
        """A stable string form, for storage."""
        return f"{self.site}/{self.device}/{self.sensor}/{self.kind.value}"

    @classmethod
    def parse(cls, text: str) -> AlertKey:
        """Read the string form back."""
        site, device, sensor, kind = text.split("/")
        return cls(site, device, sensor, AlertKind(kind))


@dataclass(frozen=True, slots=True)
class AlertChange:
    """A rule's verdict: raise (or raise higher) an alert, or clear it."""

    key: AlertKey
    action: Literal["raise", "clear"]
    severity: Severity
    since: datetime
    value: float | None = None
