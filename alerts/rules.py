"""The alert rules, evaluated on the live stream: readings and status in, raise/clear out.

Pure and deterministic: no clock of its own, no I/O. Each watched condition (a unit's
temperature, a door, a probe, a device) keeps when it started, so a delay counts from
the first reading beyond the limit, survives a restart (`state()` / `restore()`, kept by
alerts/watches.py), and an alert already raised is not raised twice. Temperature readings
inside a unit's defrost window are ignored; a door or probe condition has its own rule.

Silence and offline count from the later of the last reading (or status) and the moment
this run began hearing the broker (`listening()`): a memory restored after hours of hub
downtime must not call every sensor silent before the broker has delivered anything, and a
sensor that stays silent is still called so once its own window has passed since the start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from alerts.kinds import RANK, AlertChange, AlertKey, AlertKind, Severity
from alerts.policy import CLOCK_HOLD, CLOCK_SKEW_LIMIT, DENIED_QUIET, OFFLINE_GRACE, UnitPolicy
from alerts.watches import Watch, WatchBook
from protocol import DoorReading, Reading, Status, TemperatureReading

_HEARD_ALL_ALONG = datetime.min.replace(tzinfo=UTC)
"""When a rule book never restored began hearing: it knows only what it heard itself."""

PolicyOf = Callable[[str, str, str], UnitPolicy]


class RuleBook(WatchBook):
    """Every rule, for every site seen."""

    def __init__(self, policy_of: PolicyOf, tz: tzinfo) -> None:
        super().__init__()
        self._policy_of = policy_of
        self._tz = tz
        # Not saved: each run hears the broker from its own start (None: not yet).
        self._heard_from: datetime | None = _HEARD_ALL_ALONG

    # --- readings -------------------------------------------------------------------------
    def readings(
        self,
        site: str,
        device: str,
        readings: tuple[Reading, ...],
        sent: datetime,
        received: datetime,
    ) -> list[AlertChange]:
        """Take a telemetry message's readings; return what changed."""
        changes: list[AlertChange] = []
        for reading in sorted(readings, key=lambda r: r.ts):
            if isinstance(reading, TemperatureReading):
                changes += self._temperature(site, device, reading)
            elif isinstance(reading, DoorReading):
                changes += self._door(site, device, reading)
        skew = abs((received - sent).total_seconds())
        key = AlertKey(site, device, "", AlertKind.CLOCK)
        changes += self._clock(
            key,
            received,
            skew > CLOCK_SKEW_LIMIT.total_seconds(),
            skew <= CLOCK_SKEW_LIMIT.total_seconds() / 2,
            skew,
        )
        return changes

    def _in_defrost(self, policy: UnitPolicy, ts: datetime) -> bool:
        local = ts.astimezone(self._tz)
        minute = local.hour * 60 + local.minute
        for window in policy.defrost:
            start = window.start.hour * 60 + window.start.minute
            if 0 <= (minute - start) % 1440 < window.minutes:
                return True
        return False

    def _temperature(
        self, site: str, device: str, reading: TemperatureReading
    ) -> list[AlertChange]:
        policy = self._policy_of(site, device, reading.sensor)
        ts, celsius = reading.ts, float(reading.celsius)
        changes = self._seen(site, device, reading.sensor, ts)
        watch = self._watch(AlertKey(site, device, reading.sensor, AlertKind.TEMPERATURE))
        key = AlertKey(site, device, reading.sensor, AlertKind.TEMPERATURE)
        if self._in_defrost(policy, ts):
            # Defrost warms the unit for a while, never this far: the at-once limit holds.
            if policy.beyond(celsius, policy.immediate_c):
                watch.value = celsius
                return changes + self._raise(key, watch, Severity.CRITICAL, ts)
            if watch.raised is None:
                watch.since = watch.critical_since = None
            return changes
        watch.value = celsius
        warn = policy.beyond(celsius, policy.warning_c) or policy.beyond(celsius, policy.critical_c)
        crit = policy.beyond(celsius, policy.critical_c)
        watch.since = (watch.since or ts) if warn else None
        watch.critical_since = (watch.critical_since or ts) if crit else None
        if watch.raised is not None:
            inner = policy.warning_c if policy.warning_c is not None else policy.critical_c
            if policy.back_in_range(celsius, inner):
                watch.raised = None
                return [*changes, AlertChange(key, "clear", Severity.WARNING, ts, celsius)]
        if policy.beyond(celsius, policy.immediate_c):
            return changes + self._raise(key, watch, Severity.CRITICAL, ts)
        return changes + self._temperature_due(key, watch, policy, ts)

    def _temperature_due(
        self, key: AlertKey, watch: Watch, policy: UnitPolicy, now: datetime
    ) -> list[AlertChange]:
        if watch.critical_since and now - watch.critical_since >= policy.critical_delay:
            return self._raise(key, watch, Severity.CRITICAL, watch.critical_since)
        if (
            policy.warning_c is not None
            and watch.since
            and now - watch.since >= policy.warning_delay
        ):
            return self._raise(key, watch, Severity.WARNING, watch.since)
        return []

    def _raise(
        self, key: AlertKey, watch: Watch, severity: Severity, since: datetime
    ) -> list[AlertChange]:
        if RANK[severity] <= RANK[watch.raised]:
            return []
        self._changed[key] = None  # the tick raises too, on watches it did not look up
        watch.raised = severity
        return [AlertChange(key, "raise", severity, watch.since or since, watch.value)]

    def _seen(self, site: str, device: str, sensor: str, ts: datetime) -> list[AlertChange]:
        watch = self._watch(AlertKey(site, device, sensor, AlertKind.SENSOR_SILENT))
        watch.last_seen = max(watch.last_seen or ts, ts)
        if watch.raised is None:
            return []
        watch.raised = None
        return [
            AlertChange(
                AlertKey(site, device, sensor, AlertKind.SENSOR_SILENT),
                "clear",
                Severity.WARNING,
                ts,
            )
        ]

    def _door(self, site: str, device: str, reading: DoorReading) -> list[AlertChange]:
        key = AlertKey(site, device, reading.sensor, AlertKind.DOOR_OPEN)
        watch = self._watch(key)
        if reading.open:
            watch.since = watch.since or reading.ts
            return self._door_due(key, watch, reading.ts)
        watch.since = None
        if watch.raised is None:
            return []
        watch.raised = None
        return [AlertChange(key, "clear", Severity.WARNING, reading.ts)]

    def _door_due(self, key: AlertKey, watch: Watch, now: datetime) -> list[AlertChange]:
        policy = self._policy_of(key.site, key.device, key.sensor)
        if watch.since and now - watch.since >= policy.door_open_limit:
            return self._raise(key, watch, Severity.WARNING, watch.since)
        return []

    def _clock(
        self, key: AlertKey, now: datetime, wrong: bool, right: bool, skew: float | None
    ) -> list[AlertChange]:
        """Raise only when the clock stays wrong for CLOCK_HOLD.

        Messages the broker kept while the hub was down arrive late, so they look like a
        device clock that is behind; they drain in seconds, and the first live message
        shows the true skew. A clock that is really wrong stays wrong.
        """
        watch = self._watch(key)
        if wrong:
            watch.since = watch.since or now
            watch.value = skew
            if now - watch.since >= CLOCK_HOLD:
                return self._raise(key, watch, Severity.WARNING, watch.since)
            return []
        if right:
            watch.since = None
            if watch.raised is not None:
                watch.raised = None
                return [AlertChange(key, "clear", Severity.WARNING, now, skew)]
        return []

    # --- status ---------------------------------------------------------------------------
    def status(
        self, site: str, device: str, status: Status, received: datetime
    ) -> list[AlertChange]:
        """Take a device's status: online or its last will, probe faults, clock."""
        changes: list[AlertChange] = []
        key = AlertKey(site, device, "", AlertKind.DEVICE_OFFLINE)
        watch = self._watch(key)
        if not status.online:
            watch.since = watch.since or received
        else:
            watch.since = None
            if watch.raised is not None:
                watch.raised = None
                changes.append(AlertChange(key, "clear", Severity.WARNING, received))
            faulty = set(status.faults or ())
            for fault_key, fault in list(self._watches.items()):
                if (
                    (fault_key.site, fault_key.device, fault_key.kind)
                    == (site, device, AlertKind.PROBE_FAULT)
                    and fault.raised
                    and fault_key.sensor not in faulty
                ):
                    self._changed[fault_key] = None
                    fault.raised = None
                    changes.append(AlertChange(fault_key, "clear", Severity.WARNING, received))
            for sensor in sorted(faulty):
                fault_key = AlertKey(site, device, sensor, AlertKind.PROBE_FAULT)
                changes += self._raise(
                    fault_key, self._watch(fault_key), Severity.WARNING, received
                )
            if status.clock_synced is not None:
                synced = status.clock_synced
                unsynced = AlertKey(site, device, "", AlertKind.CLOCK_UNSYNCED)
                changes += self._clock(unsynced, received, not synced, synced, None)
        return changes

    # --- the broker's guard ------------------------------------------------------------
    def publish_denied(self, site: str, device: str, at: datetime) -> list[AlertChange]:
        """The broker refused a device's publish under another device's topic: raise now."""
        key = AlertKey(site, device, "", AlertKind.PUBLISH_DENIED)
        watch = self._watch(key)
        watch.last_seen = max(watch.last_seen or at, at)
        watch.since = watch.since or at
        return self._raise(key, watch, Severity.WARNING, at)

    def _denied_due(self, key: AlertKey, watch: Watch, now: datetime) -> list[AlertChange]:
        if watch.raised is None or watch.last_seen is None:
            return []
        if now - watch.last_seen < DENIED_QUIET:
            return []
        self._changed[key] = None
        watch.raised = watch.since = None
        return [AlertChange(key, "clear", Severity.WARNING, now)]

    # --- time passing ---------------------------------------------------------------------
    def tick(self, now: datetime) -> list[AlertChange]:
        """Raise what has become due with time alone: delays, open doors, silence, offline."""
        changes: list[AlertChange] = []
        offline = {
            (k.site, k.device)
            for k, w in self._watches.items()
            if k.kind is AlertKind.DEVICE_OFFLINE and w.since is not None
        }
        for key, watch in list(self._watches.items()):
            if key.kind is AlertKind.TEMPERATURE and watch.raised is not Severity.CRITICAL:
                policy = self._policy_of(key.site, key.device, key.sensor)
                if not self._in_defrost(policy, now):
                    changes += self._temperature_due(key, watch, policy, now)
            elif key.kind is AlertKind.DOOR_OPEN:
                changes += self._door_due(key, watch, now)
            elif key.kind is AlertKind.PUBLISH_DENIED:
                changes += self._denied_due(key, watch, now)
            elif key.kind is AlertKind.DEVICE_OFFLINE and watch.since:
                if self._quiet_for(watch.since, now) >= OFFLINE_GRACE:
                    changes += self._raise(key, watch, Severity.WARNING, watch.since)
            elif key.kind is AlertKind.SENSOR_SILENT and watch.last_seen:
                policy = self._policy_of(key.site, key.device, key.sensor)
                if (key.site, key.device) not in offline and self._quiet_for(
                    watch.last_seen, now
                ) >= policy.silent_after:
                    changes += self._raise(key, watch, Severity.WARNING, watch.last_seen)
        return changes

    def _quiet_for(self, last: datetime, now: datetime) -> timedelta:
        """How long this run has heard nothing since `last` (no time before it listened)."""
        if self._heard_from is None:
            return timedelta(0)
        return now - max(last, self._heard_from)

    def listening(self, since: datetime) -> None:
        """Count silence and offline from `since` at the earliest: when this run began hearing.

        A restored memory was heard by an earlier run; until this is called, a restored
        book judges neither silence nor offline. What a watch remembers (the last reading,
        when the device went offline) is not changed, so an alert still says since when.
        """
        self._heard_from = since

    # --- restart --------------------------------------------------------------------------
    def restore(self, state: dict[str, dict[str, Any]]) -> None:
        """Take back what `state()` gave, after a restart; silence waits for `listening()`.

        Delays already running (an excursion, an open door) keep their start, and what was
        raised stays raised, so nothing is raised or notified twice.
        """
        self._heard_from = None
        super().restore(state)
