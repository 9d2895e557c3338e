"""The alert service: its own persistent MQTT session read by one worker thread.

The session is persistent (QoS 1, `clean_start=False`), so what devices publish while
the hub restarts is delivered afterwards and an excursion is judged on every reading.
One thread owns the engine and the session: it reads messages in batches (the ingest's
lean `MqttSession`), judges each batch and acknowledges it in one write, runs the calls
submitted from other threads, and ticks the clock. Silence and offline count from the
moment its subscription is confirmed at the earliest (`AlertEngine.listening`).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from time import monotonic
from typing import Any

from alerts.denials import PublishDenied, login_owner, notice_topic, parse_notice
from alerts.engine import AlertEngine, OnChange
from alerts.notify import AppriseSender, Deliverer, Sender
from alerts.policy import DEFAULT_POLICIES, UnitPolicy
from alerts.rules import RuleBook
from alerts.settings import AlertSettings
from alerts.store import AlertStore
from canteen.cold_units import UnitKind
from canteen.settings import MqttSettings
from ingest.mqtt_session import MqttSession
from ingest.pipeline import Inbound
from ingest.source import BrokerSource
from protocol import (
    Channel,
    ProtocolError,
    TopicError,
    parse_status,
    parse_telemetry,
    parse_topic,
    subscription,
)

logger = logging.getLogger(__name__)

SECRET_FILE = "secret.key"  # noqa: S105  (a file name, not a secret)
SESSION_EXPIRY_S = 7 * 24 * 3600
"""How long the broker keeps what arrives for the alert service while the hub is down."""
RECEIVE_MAXIMUM = 1000
"""Messages the broker may send before their acknowledgements: the bound of a batch."""
BATCH_BYTES = 4 * 1024 * 1024
READ_EVERY_S = 0.05
"""The worker reads the socket at most this often: a batch is what one read brings.

What arrives meanwhile waits in the socket and comes in one read; reading as messages
came, a read a message, cost the worker about a third of its time at 1,000 messages/s.
"""
IDLE_WAIT_S = 0.05
"""How long the worker waits for messages before it looks at the submitted calls again."""


def load_secret_key(state_dir: Path, configured: str | None) -> bytes:
    """The key that signs links: configured, or made once at first start and kept (0600)."""
    if configured:
        if len(configured) < 32:
            raise ValueError(
                "CANTEEN_SECRET_KEY must be at least 32 characters (openssl rand -hex 32)"
            )
        return configured.encode()
    path = state_dir / SECRET_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        logger.info("made a new secret key in %s", path)
    return path.read_text(encoding="utf-8").strip().encode()


def policy_lookup(
    settings: AlertSettings, kind_of: Callable[[str], UnitKind]
) -> Callable[[str, str, str], UnitPolicy]:
    """A unit's rules: its own from the settings, else its kind's, plus its defrost windows."""

    def policy_of(_site: str, _device: str, sensor: str) -> UnitPolicy:
        policy = settings.units.get(sensor) or DEFAULT_POLICIES[kind_of(sensor)]
        windows = settings.defrost.get(sensor)
        return policy.model_copy(update={"defrost": tuple(windows)}) if windows else policy

    return policy_of


class AlertService:
    """Runs the alert engine on a broker's stream until stopped."""

    def __init__(
        self,
        settings: AlertSettings,
        mqtt_settings: MqttSettings,
        store: AlertStore,
        rules: RuleBook,
        secret_key: bytes,
        day_start: Callable[[datetime], datetime],
        on_change: OnChange = lambda _site: None,
        sender: Sender | None = None,
        client_id: str = "canteen-alerts",
    ) -> None:
        self.settings = settings
        self.store = store
        self.secret_key = secret_key
        deliverer = Deliverer(
            settings, store, sender or AppriseSender(), secret_key, day_start, on_change
        )
        self.deliverer = deliverer
        self.engine = AlertEngine(settings, rules, store, deliverer, on_change)
        self._mqtt = mqtt_settings
        # Calls from other threads; the worker runs them between batches, in order.
        self._work: queue.Queue[Callable[[AlertEngine], None]] = queue.Queue()
        self._stop = threading.Event()
        root = mqtt_settings.root
        # Only the worker thread reads the session (stop() may close it if it hangs).
        self._source = BrokerSource(
            MqttSession(
                mqtt_settings,
                client_id,
                RECEIVE_MAXIMUM,
                SESSION_EXPIRY_S,
                lambda: datetime.now(UTC),
            ),
            # The guard plugin's notices too (broker/plugin/): judged like any message.
            [
                subscription(Channel.TELEMETRY, root),
                subscription(Channel.STATUS, root),
                notice_topic(root),
            ],
            self._stop,
            max_messages=RECEIVE_MAXIMUM,
            max_bytes=BATCH_BYTES,
            linger_s=0.0,
            max_age_s=0.0,  # a batch is one read's messages: READ_EVERY_S makes it fill
            broker_url=mqtt_settings.url(),
            role="alert service",
        )
        self.subscribed = self._source.subscribed
        self._notices = notice_topic(root)
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> None:
        """Start the worker (it connects)."""
        self._thread.start()

    def stop(self) -> None:
        """Judge the batch in hand, disconnect (the broker keeps the session), and stop."""
        # The worker judges and acknowledges the batch it holds, then disconnects: what it
        # has not read yet stays unacknowledged, and the broker sends it again at the next
        # start. Judging a reading twice is harmless; never judging it would not be.
        self._stop.set()
        self._thread.join(10)
        if self._thread.is_alive():  # stuck (a broker that does not answer): cut it off
            logger.warning("the alert worker did not stop in 10 s; disconnecting it")
            self._source.close()

    def submit(self, action: Callable[[AlertEngine], None]) -> None:
        """Run something on the engine's thread (a person's acknowledgement, a test)."""
        self._work.put(action)

    def _denied(self, notice: PublishDenied, received: datetime) -> None:
        """A guard notice: log it, and alert the site of the device that tried."""
        owner = login_owner(notice.username, self.engine.rules.devices(), self.settings.channels)
        logger.warning(
            "the broker refused %s (client %s) publishing on %s (%d bytes, %d more not reported)",
            notice.username,
            notice.client_id,
            notice.topic,
            notice.payload_bytes,
            notice.held,
        )
        if owner is not None:
            self.engine.publish_denied(*owner, notice.at, received)

    def _run(self) -> None:
        next_tick = 0.0
        heard = False
        try:
            while not self._stop.is_set():
                try:
                    wait = 0.0 if not self._work.empty() else IDLE_WAIT_S
                    began = monotonic()
                    batch = self._source.collect(max(0.0, min(wait, next_tick - began)))
                    if not heard and self._source.subscribed.is_set():
                        # Silence counts from here, not from readings the last run heard.
                        heard = True
                        self.engine.listening(datetime.now(UTC))
                    # Acknowledged only once judged, so a crash makes the broker send it again.
                    self._source.ack(self._judge(batch))
                    self._run_submitted()
                    if monotonic() >= next_tick:
                        next_tick = monotonic() + self.settings.tick_s
                        self.engine.tick(datetime.now(UTC))
                    if batch and self._work.empty():  # let the next batch gather
                        self._stop.wait(min(began + READ_EVERY_S, next_tick) - monotonic())
                except Exception:  # the worker's top level: log and keep going
                    logger.exception("alert worker step failed")
            self._run_submitted()
        finally:
            self._source.close()
            self.engine.flush()  # what the last readings taught the rules, for the next start

    def _judge(self, batch: list[Inbound]) -> list[Inbound]:
        """Judge a batch's messages in order; those judged (all but a failed one's)."""
        failed: list[Inbound] = []
        for message in batch:
            try:
                self._handle(message)
            except Exception:  # one message's failure must not cost the others their turn
                logger.exception("alerts failed to judge a message on %s", message.topic)
                failed.append(message)
        return [m for m in batch if m not in failed] if failed else batch

    def _run_submitted(self) -> None:
        """Run the calls submitted so far, in order."""
        while True:
            try:
                action = self._work.get_nowait()
            except queue.Empty:
                return
            try:
                action(self.engine)
            except Exception:  # one failed call must not stop the others
                logger.exception("a call on the alert worker failed")

    def _handle(self, message: Inbound) -> None:
        if message.topic == self._notices:
            try:
                self._denied(parse_notice(message.payload), message.received)
            except ValueError as err:
                logger.warning("skipped a message on %s: %s", message.topic, err)
            return
        try:
            topic = parse_topic(message.topic, self._mqtt.root)
            received = message.received
            if topic.channel is Channel.TELEMETRY:
                self.engine.telemetry(parse_telemetry(topic, message.payload, received), received)
            elif topic.channel is Channel.STATUS:
                status = parse_status(topic, message.payload)
                self.engine.status(topic.site, topic.device, status, received)
        except (TopicError, ProtocolError) as err:
            logger.debug("alerts skipped a message on %s: %s", message.topic, err)


def day_start_in(tz: Any) -> Callable[[datetime], datetime]:
    """A function giving the kitchen's midnight before a moment."""

    def start(now: datetime) -> datetime:
        return datetime.combine(now.astimezone(tz).date(), time(), tzinfo=tz)

    return start
