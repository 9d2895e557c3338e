"""Watch the broker for telemetry and status and hand the valid messages to the screens.

The dashboard only looks: it subscribes with a clean session at QoS 0 and never
acknowledges for anyone, so it cannot take messages from the ingest, and what it misses
while down it reads back from InfluxDB. It reads with the ingest's lean session
(`MqttSession` + `BrokerSource`): a batch is what one read of the socket brings, a read
at most every `READ_EVERY_S`; paho's per-packet `select`, reads and MQTT v5 `Properties`
were half the dashboard's CPU at 1,000 messages/s. Invalid messages are counted and
skipped here; the ingest is the one that keeps them in its dead-letter store. The one
thing it sends is a device's retained config (`publish_retained`), when a manager pushes
one, on a publish-only paho client of its own (`dashboard.config_publisher`).

`LoopHandoff` carries the parsed messages to the web server's event loop in batches: a
wake-up of the loop costs more than applying a message, and at 1,000 messages/s one a
message was a quarter of the dashboard's CPU.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from canteen.settings import MqttSettings
from dashboard.config_publisher import ConfigPublisher
from ingest.mqtt_session import MqttSession
from ingest.pipeline import Inbound
from ingest.source import BrokerSource
from protocol import (
    Channel,
    ProtocolError,
    Status,
    Telemetry,
    TopicError,
    epoch_ms,
    parse_status,
    parse_telemetry,
    parse_topic,
    subscription,
)

logger = logging.getLogger(__name__)

HANDOFF_WINDOW_S = 0.02
"""The least time between two batches the event loop takes (so at most one wake-up)."""
READ_EVERY_S = HANDOFF_WINDOW_S
"""The feed reads the socket at most this often: what arrives meanwhile comes in one read.

As often as the loop takes a batch, so a read's messages ride in one hand-over.
"""
IDLE_WAIT_S = 0.25
"""How long a read waits for a first message before the feed looks at `stop` again."""
BATCH_MESSAGES = 10_000
BATCH_BYTES = 4 * 1024 * 1024
RECEIVE_MAXIMUM = 65_535
"""Sent because CONNECT carries it; it bounds QoS 1 and 2 only, and the feed takes QoS 0."""

OnTelemetry = Callable[[Telemetry], None]
OnStatus = Callable[[str, str, Status, int], None]


class LoopHandoff:
    """Runs calls from another thread on an event loop, in order, a batch per wake-up.

    The first call put after a batch was taken wakes the loop, which takes the batch at
    once if the last one was taken `window_s` ago or more, else when that much time has
    passed: the calls put meanwhile ride along. So the loop wakes at most once a window
    however many messages arrive, a message waits at most the window, and one that comes
    after a quiet spell does not wait at all.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, window_s: float = HANDOFF_WINDOW_S) -> None:
        self._loop = loop
        self._window_s = window_s
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._taken_at = float("-inf")

    def put(self, call: Callable[..., None], *args: Any) -> None:
        """Run `call(*args)` on the loop after everything put before it (any thread)."""
        with self._lock:
            self._pending.append((call, args))
            first = len(self._pending) == 1
        if first:
            self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        """On the loop: take the batch now, or a window after the last was taken."""
        wait = self._taken_at + self._window_s - self._loop.time()
        if wait > 0:
            self._loop.call_later(wait, self._take)
        else:
            self._take()

    def _take(self) -> None:
        """On the loop: run the batch put so far, in order."""
        self._taken_at = self._loop.time()
        with self._lock:
            batch, self._pending = self._pending, []
        for call, args in batch:
            try:
                call(*args)
            except Exception:  # as asyncio does for a callback: log it, run the next one
                logger.exception("a message handed to the screens failed")


class BrokerFeed:
    """Reads what devices publish on a lean clean session, parses it and passes it on."""

    def __init__(
        self,
        settings: MqttSettings,
        on_telemetry: OnTelemetry,
        on_status: OnStatus,
        client_id: str = "canteen-dashboard",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        read_every_s: float = READ_EVERY_S,
    ) -> None:
        self._settings = settings
        self._on_telemetry = on_telemetry
        self._on_status = on_status
        self._read_every_s = read_every_s
        self.rejected = 0
        self._stop = threading.Event()
        root = settings.root
        self._session = MqttSession(
            settings,
            client_id,
            RECEIVE_MAXIMUM,
            session_expiry_s=0,  # the broker forgets the feed when it goes
            clock=clock,
            clean_start=True,
            qos=0,
        )
        self._source = BrokerSource(
            self._session,
            [subscription(Channel.TELEMETRY, root), subscription(Channel.STATUS, root)],
            self._stop,
            max_messages=BATCH_MESSAGES,
            max_bytes=BATCH_BYTES,
            linger_s=0.0,
            max_age_s=0.0,  # a batch is one read's messages: `read_every_s` makes it fill
            broker_url=settings.url(),
            role="dashboard",
        )
        self.connected = self._source.subscribed
        """Set while the feed is connected and the broker has granted its subscriptions."""
        self._publisher = ConfigPublisher(settings, f"{client_id}-config")
        self._thread = threading.Thread(target=self._run, name="broker-feed", daemon=True)

    def start(self) -> None:
        """Start reading (the feed's thread connects, and reconnects until `stop`)."""
        self._publisher.start()
        self._thread.start()

    def stop(self) -> None:
        """Disconnect and stop the feed's thread and the publisher."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        if self._thread.is_alive():  # stuck (a broker that does not answer): cut it off
            logger.warning("the dashboard's broker feed did not stop in 10 s; disconnecting it")
            self._source.close()
        self._publisher.stop()

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        """Publish a retained QoS 1 message; whether the broker acknowledged it in time."""
        return self._publisher.publish_retained(topic, payload)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    began = time.monotonic()
                    batch = self._source.collect(IDLE_WAIT_S)
                    self._pass_on(batch)
                    if batch:  # let the next batch gather in the socket
                        self._stop.wait(began + self._read_every_s - time.monotonic())
                except Exception:  # the thread's top level: log and keep going
                    logger.exception("the dashboard's broker feed failed a step")
                    self._stop.wait(1.0)
        finally:
            self._source.close()

    def _pass_on(self, batch: list[Inbound]) -> None:
        """Parse a batch's messages in order and pass on the valid ones."""
        root = self._settings.root
        for message in batch:
            try:
                topic = parse_topic(message.topic, root)
                if topic.channel is Channel.TELEMETRY:
                    self._on_telemetry(parse_telemetry(topic, message.payload, message.received))
                elif topic.channel is Channel.STATUS:
                    status = parse_status(topic, message.payload)
                    self._on_status(topic.site, topic.device, status, epoch_ms(message.received))
            except (TopicError, ProtocolError) as err:
                self.rejected += 1
                logger.debug("dashboard skipped a message on %s: %s", message.topic, err)
