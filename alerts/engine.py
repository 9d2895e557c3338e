"""Turn rule verdicts into alert records and notifications; escalate what nobody answers.

Single-threaded by design: the alert service calls it from one worker thread. The rules'
memory is saved with every change they make, and at the next tick after readings that
only moved it (an excursion's start), so a restart mid-excursion neither forgets the time
already spent out of range nor opens (or notifies) the same alert twice: the store also
allows only one unresolved alert per unit and kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from alerts.kinds import RANK, AlertChange
from alerts.notify import Deliverer
from alerts.rules import RuleBook
from alerts.settings import AlertSettings
from alerts.store import AlertStore
from protocol import Status, Telemetry

logger = logging.getLogger(__name__)

OnChange = Callable[[str], None]


class AlertEngine:
    """Rules, records and notifications for every site this hub watches."""

    def __init__(
        self,
        settings: AlertSettings,
        rules: RuleBook,
        store: AlertStore,
        deliverer: Deliverer,
        on_change: OnChange = lambda _site: None,
    ) -> None:
        self._settings = settings
        self.rules = rules
        self.store = store
        self._deliverer = deliverer
        self._on_change = on_change
        self._unsaved = False
        rules.restore(store.rule_state())

    def telemetry(self, telemetry: Telemetry, received: datetime) -> None:
        """Readings from a device."""
        topic = telemetry.topic
        self._unsaved = True
        self._apply(
            self.rules.readings(
                topic.site, topic.device, telemetry.readings, telemetry.sent, received
            ),
            received,
        )

    def status(self, site: str, device: str, status: Status, received: datetime) -> None:
        """A device's status message."""
        self._unsaved = True
        self._apply(self.rules.status(site, device, status, received), received)

    def publish_denied(self, site: str, device: str, at: datetime, received: datetime) -> None:
        """The broker refused a device's publish under another device's topic."""
        self._unsaved = True
        self._apply(self.rules.publish_denied(site, device, at), received)

    def listening(self, since: datetime) -> None:
        """This run hears the broker from `since`: silence and offline count from then."""
        self.rules.listening(since)

    def tick(self, now: datetime) -> None:
        """Time passing: delays, escalations, reminders, notifications due."""
        self._apply(self.rules.tick(now), now)
        self.flush()
        self._escalate(now)
        self._deliverer.run_due(now)

    def flush(self) -> None:
        """Save what the rules remember, if readings moved it since the last save."""
        # Not on every message: the whole text is written, which at a busy hub's message
        # rate would cost more than the rules themselves. The rules make it again only
        # for the watches changed since the last save.
        if self._unsaved:
            self.store.save_rule_state_json(self.rules.state_json())
            self._unsaved = False

    def _apply(self, changes: list[AlertChange], now: datetime) -> None:
        if not changes:
            return
        for change in changes:
            try:
                self._record(change, now)
            except Exception:  # one alert's trouble must not stop the others
                logger.exception("cannot record %s", change)
        self._unsaved = True
        self.flush()
        self._deliverer.run_due(now)

    def _record(self, change: AlertChange, now: datetime) -> None:
        live = self.store.live_for(change.key)
        if change.action == "raise":
            if live is None:
                alert = self.store.open(
                    change.key, change.severity, change.since, change.value, now
                )
                self.store.queue_delivery(alert.id, "duty", "open", now)
                logger.warning(
                    "alert %d opened: %s %s", alert.id, change.key.text(), change.severity
                )
            elif live.cleared_at is not None:
                # back out of range while a critical alert waits for its corrective action
                self.store.reopen(live.id, change.value, now)
                self.store.queue_delivery(live.id, "duty", "open", now)
                logger.warning("alert %d out of range again: %s", live.id, change.key.text())
            elif RANK[change.severity] > RANK[live.severity]:
                self.store.raise_severity(live.id, change.severity, change.value, now)
                self.store.queue_delivery(live.id, "duty", "severity", now)
            else:
                return
        else:
            if live is None or live.cleared_at is not None:
                return
            # Back to normal when the reading says so (not when it arrived: a replayed
            # backlog must not stretch the excursion in the HACCP log); never before it began.
            self.store.clear(live.id, max(change.since, live.since))
            self.store.queue_delivery(live.id, "duty", "resolved", now)
            logger.info("alert %d back to normal", live.id)
        self._on_change(change.key.site)

    def _escalate(self, now: datetime) -> None:
        for alert in self.store.live():
            if alert.state != "open" or alert.cleared_at is not None:
                continue
            if (
                alert.escalated_at is None
                and now - alert.opened_at >= self._settings.escalate_after
            ):
                self.store.mark(alert.id, "escalated_at", now)
                self.store.queue_delivery(alert.id, "manager", "escalation", now)
                logger.warning("alert %d not acknowledged: escalated to the manager", alert.id)
                self._on_change(alert.key.site)
            last = alert.last_reminder_at or alert.opened_at
            if now - last >= self._settings.remind_every:
                self.store.mark(alert.id, "last_reminder_at", now)
                self.store.queue_delivery(alert.id, "duty", "reminder", now)
