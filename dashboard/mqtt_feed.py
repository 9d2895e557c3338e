"""Watch the broker for telemetry and status and hand the valid messages to the screens.

The dashboard only looks: it subscribes with a clean session at QoS 0 and never
acknowledges for anyone, so it cannot take messages from the ingest, and what it misses
while down it reads back from InfluxDB. Invalid messages are counted and skipped here;
the ingest is the one that keeps them in its dead-letter store. The one thing it sends
is a device's retained config (`publish_retained`), when a manager pushes one.

`LoopHandoff` carries the parsed messages to the web server's event loop in batches: a
wake-up of the loop costs more than applying a message, and at 1,000 messages/s one a
message was a quarter of the dashboard's CPU.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings
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

PUBACK_TIMEOUT_S = 5.0

HANDOFF_WINDOW_S = 0.02
"""The least time between two batches the event loop takes (so at most one wake-up)."""

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
    """A paho client that parses what devices publish and passes it on."""

    def __init__(
        self,
        settings: MqttSettings,
        on_telemetry: OnTelemetry,
        on_status: OnStatus,
        client_id: str = "canteen-dashboard",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._on_telemetry = on_telemetry
        self._on_status = on_status
        self._clock = clock
        self.connected = threading.Event()
        self.rejected = 0
        self._stopping = False
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        configure_credentials(self._client, settings)
        self._client.reconnect_delay_set(min_delay=1, max_delay=15)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._client.on_publish = self._handle_publish
        self._refused: dict[int, str] = {}

    def start(self) -> None:
        """Connect in the background; paho reconnects until `stop`."""
        self._client.connect_async(self._settings.host, self._settings.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        """Publish a retained QoS 1 message; tell whether the broker acknowledged it.

        Waits up to `PUBACK_TIMEOUT_S` for the PUBACK; False (with the reason logged)
        if the broker is not connected, refuses it or does not answer in time.
        """
        if not self.connected.is_set():
            logger.warning("not connected to %s: %s not sent", self._settings.url(), topic)
            return False
        info = self._client.publish(topic, payload, qos=1, retain=True)
        try:
            info.wait_for_publish(PUBACK_TIMEOUT_S)
        except (RuntimeError, ValueError) as err:  # paho: lost connection, or queue full
            logger.warning("%s not sent: %s", topic, err)
            return False
        if not info.is_published():
            logger.warning("no PUBACK for %s within %.0f s", topic, PUBACK_TIMEOUT_S)
            return False
        refused = self._refused.pop(info.mid, None)
        if refused is not None:
            logger.warning("the broker refused %s: %s", topic, refused)
            return False
        return True

    def _handle_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:  # e.g. 0x87 Not authorized: the hub's ACL lacks the topic
            self._refused[mid] = str(reason)

    def _handle_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            logger.error("the broker at %s refused the dashboard: %s", self._settings.url(), reason)
            return
        root = self._settings.root
        client.subscribe(
            [(subscription(Channel.TELEMETRY, root), 0), (subscription(Channel.STATUS, root), 0)]
        )
        self.connected.set()
        logger.info("dashboard watching %s", self._settings.url())

    def _handle_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            logger.warning("dashboard lost the broker (%s); reconnecting", reason)

    def _handle_message(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        now = self._clock()
        try:
            topic = parse_topic(message.topic, self._settings.root)
            if topic.channel is Channel.TELEMETRY:
                self._on_telemetry(parse_telemetry(topic, message.payload, now))
            elif topic.channel is Channel.STATUS:
                status = parse_status(topic, message.payload)
                self._on_status(topic.site, topic.device, status, epoch_ms(now))
        except (TopicError, ProtocolError) as err:
            self.rejected += 1
            logger.debug("dashboard skipped a message on %s: %s", message.topic, err)
