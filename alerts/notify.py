"""Send notifications through Apprise, and deliver queued ones with retries and a daily cap.

Apprise speaks to WeCom, DingTalk, Feishu, ntfy, Telegram, e-mail and many more, each
configured by a URL. A delivery that fails is retried with a growing delay; after the
last try it is marked failed, and the alert says so on the wall screen. A daily cap per
site and role keeps a faulty probe from sending hundreds of messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from alerts import links
from alerts.deliveries import Delivery
from alerts.messages import compose
from alerts.settings import AlertSettings
from alerts.store import AlertStore

logger = logging.getLogger(__name__)


class NotifyError(RuntimeError):
    """A notification that could not be delivered."""


class Sender(Protocol):
    """Something that sends a title and body to a list of notification URLs."""

    def send(self, urls: list[str], title: str, body: str) -> None:
        """Deliver to every URL or raise NotifyError."""
        ...


class AppriseSender:
    """The real sender: Apprise, with its log kept as the error when a send fails."""

    def __init__(self) -> None:
        # Imported and warmed when the sender is built, not at the first alert: Apprise
        # loads its plugins at the first URL it parses (about half a second), which the
        # first notification must not wait for.
        import apprise

        apprise.Apprise().add("json://localhost")
        self._apprise = apprise

    def send(self, urls: list[str], title: str, body: str) -> None:
        """Deliver to every URL or raise NotifyError with what Apprise said."""
        apprise = self._apprise
        notifier = apprise.Apprise()
        for url in urls:
            if not notifier.add(url):
                raise NotifyError(f"not a notification URL Apprise knows: {url.split(':')[0]}://…")
        with apprise.LogCapture(level=logging.WARNING) as log:
            delivered = notifier.notify(title=title, body=body)
            said = log.getvalue().strip().splitlines()
        if not delivered:
            raise NotifyError(said[-1] if said else "Apprise could not deliver it")


class Deliverer:
    """Sends the store's due deliveries."""

    def __init__(
        self,
        settings: AlertSettings,
        store: AlertStore,
        sender: Sender,
        secret_key: bytes,
        day_start: Callable[[datetime], datetime],
        on_change: Callable[[str], None] = lambda _site: None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sender = sender
        self._key = secret_key
        self._day_start = day_start
        self._on_change = on_change
        # (site, role) pairs already said to have no notification URL: said once a run.
        self._told_unconfigured: set[tuple[str, str]] = set()

    def link(self, alert_id: int, now: datetime) -> str:
        """The signed acknowledgement link for an alert."""
        token = links.sign(self._key, alert_id, now + self._settings.link_valid)
        return f"{self._settings.public_url.rstrip('/')}/a/{token}"

    def run_due(self, now: datetime) -> int:
        """Try every due delivery once; return how many were sent.

        A site whose alert changed its delivery state (delivered, retrying, failed) is
        told through `on_change`, so the wall screen shows a failed notification.
        """
        sent = 0
        for delivery in self._store.due_deliveries(now):
            before = self._store.get(delivery.alert_id).delivery
            sent += self._deliver(delivery, now)
            after = self._store.get(delivery.alert_id)
            if after.delivery != before:
                self._on_change(after.key.site)
        return sent

    def _deliver(self, delivery: Delivery, now: datetime) -> bool:
        alert = self._store.get(delivery.alert_id)
        if delivery.purpose in ("reminder", "escalation") and alert.state != "open":
            self._store.delivery_result(delivery, "skipped", now, "acknowledged meanwhile")
            return False
        site = alert.key.site
        urls = self._settings.urls(site, delivery.role)
        if not urls:
            error = f"no notification URL for the {delivery.role} role of {site} (alerts.channels)"
            self._store.delivery_result(delivery, "failed", now, error)
            self._no_channel(site, delivery.role, alert.id)
            return False
        if (
            self._store.sent_today(delivery.role, site, self._day_start(now))
            >= self._settings.daily_cap
        ):
            self._store.delivery_result(delivery, "capped", now, "daily cap reached")
            logger.warning("alert %d: daily cap for %s/%s reached", alert.id, site, delivery.role)
            return False
        title, body = compose(
            alert, delivery.purpose, self.link(alert.id, now), now, self._settings.language
        )
        try:
            self._sender.send(urls, title, body)
        except NotifyError as err:
            return self._failed(delivery, now, str(err))
        except Exception as err:  # a plugin's own bug is a failed try too, never a stuck queue
            logger.exception("alert %d: the notification raised", alert.id)
            return self._failed(delivery, now, f"{type(err).__name__}: {err}")
        self._store.delivery_result(delivery, "sent", now)
        return True

    def _no_channel(self, site: str, role: str, alert_id: int) -> None:
        """Say once per site and role that nobody is told, and how to fix it; then DEBUG."""
        if (site, role) in self._told_unconfigured:
            logger.debug("alert %d: no notification URL for %s/%s", alert_id, site, role)
            return
        self._told_unconfigured.add((site, role))
        logger.warning(
            "no notification URL for the %(role)s role of %(site)s: its alerts are recorded "
            "and shown on the dashboard's alerts page (/alerts/%(site)s), each delivery marked "
            "failed, but no phone is told. To notify one, set alerts.channels.%(site)s.%(role)s "
            '(or alerts.channels."*".%(role)s for every site) to Apprise URLs in hub.yaml, as in '
            "hub.example.yaml. Said once; later alerts without a URL are logged at DEBUG",
            {"site": site, "role": role},
        )

    def _failed(self, delivery: Delivery, now: datetime, error: str) -> bool:
        attempts = delivery.attempts + 1
        if attempts >= self._settings.max_attempts:
            self._store.delivery_result(delivery, "failed", now, error)
            logger.error("alert %d: notification failed for good: %s", delivery.alert_id, error)
        else:
            delay = min(self._settings.first_retry * 2 ** (attempts - 1), timedelta(minutes=10))
            self._store.delivery_result(delivery, "pending", now, error, retry_at=now + delay)
            logger.warning(
                "alert %d: notification failed, retrying in %s: %s", delivery.alert_id, delay, error
            )
        return False
