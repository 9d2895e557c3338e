"""Batches of messages from the broker for the ingest, reconnecting when it is lost."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from ingest.mqtt_session import BrokerRefused, ConnectionLost, MqttSession
from ingest.pipeline import Inbound

logger = logging.getLogger(__name__)


class BrokerSource:
    """Reads the ingest's subscription in batches bounded by messages and bytes.

    A batch ends when it holds `max_messages` messages or `max_bytes` of payload, when
    nothing more arrives within `linger_s`, or `max_age_s` after its first message came
    (steady live traffic never leaves a gap: without an age limit a batch would wait to
    fill, and a reading would reach InfluxDB seconds late). What a read brought beyond the bound
    waits for the next batch, and the bytes not read yet stay in the socket and at the
    broker, so memory is bounded by the batch whatever the messages' sizes. The broker
    sends at most the session's receive maximum unacknowledged messages: a batch that
    reaches it ends at once (nothing more can come before the acknowledgements).
    """

    def __init__(
        self,
        session: MqttSession,
        filters: Sequence[str],
        stop: threading.Event,
        max_messages: int,
        max_bytes: int,
        linger_s: float,
        broker_url: str,
        max_age_s: float = 0.05,
        role: str = "ingest",
    ) -> None:
        self._session = session
        self._filters = list(filters)
        self._stop = stop
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._linger_s = linger_s
        self._max_age_s = max_age_s
        self._url = broker_url
        self._role = role
        self._held: list[Inbound] = []
        self._retry_at = 0.0
        self._delay = 1.0
        self.subscribed = threading.Event()

    def collect(self, timeout: float) -> list[Inbound]:
        """The next batch, waiting up to `timeout` s for its first message ([] if none)."""
        if not self._session.connected and not self._connect(timeout):
            return []
        batch, self._held = self._held, []
        size = sum(len(m.payload) for m in batch)
        try:
            deadline = time.monotonic() + timeout
            while not batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    break
                batch = self._session.receive(remaining)
                size = sum(len(m.payload) for m in batch)
            closes = time.monotonic() + self._max_age_s
            while batch and len(batch) < self._max_messages and size < self._max_bytes:
                left = closes - time.monotonic()
                if left <= 0:
                    break
                more = self._session.receive(min(self._linger_s, left))
                if not more:
                    break
                batch.extend(more)
                size += sum(len(m.payload) for m in more)
        except BrokerRefused as err:
            logger.error("%s; check the broker's ACL for the %s's login", err, self._role)
            self._lost(err, retry_s=self._backoff())
        except ConnectionLost as err:
            self._lost(err)
        finally:
            if self._session.subscribed and not self.subscribed.is_set():
                self.subscribed.set()
        return self._bound(batch)

    def ack(self, messages: Sequence[Inbound]) -> None:
        """Acknowledge stored messages (those of the current connection), in order."""
        try:
            self._session.ack(messages)
        except ConnectionLost as err:
            self._lost(err)

    def close(self) -> None:
        """Disconnect; the broker keeps the session and queues what arrives meanwhile."""
        self._session.close()
        self.subscribed.clear()

    def _bound(self, batch: list[Inbound]) -> list[Inbound]:
        """Keep the batch within its bounds; hold the rest, in order, for the next one."""
        count, size = 0, 0
        for message in batch:
            if count == self._max_messages or (count and size >= self._max_bytes):
                break
            count += 1
            size += len(message.payload)
        if count < len(batch):
            self._held = batch[count:]
            return batch[:count]
        return batch

    def _connect(self, timeout: float) -> bool:
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            self._stop.wait(min(wait, timeout))
            return False
        try:
            present = self._session.connect(self._filters)
        except BrokerRefused as err:
            logger.error(
                "the broker at %s refused the %s: %s; check the user and password in "
                "CANTEEN_MQTT_URL and the broker's ACL; retrying in %.0f s",
                self._url,
                self._role,
                err,
                self._delay,
            )
        except ConnectionLost as err:
            logger.error(
                "cannot reach the MQTT broker at %s (%s); is mosquitto running? (set "
                "CANTEEN_MQTT_URL to where it runs); retrying in %.0f s",
                self._url,
                err,
                self._delay,
            )
        else:
            self._delay = 1.0
            self._held = []
            logger.info(
                "%s connected to %s (%s session)",
                self._role,
                self._url,
                "its queued" if present else "a new",
            )
            return True
        self._retry_at = time.monotonic() + self._backoff()
        return False

    def _backoff(self) -> float:
        """The next wait before reconnecting: 1 s, doubling up to 30 s."""
        delay, self._delay = self._delay, min(self._delay * 2, 30.0)
        return delay

    def _lost(self, err: ConnectionError, retry_s: float = 0.5) -> None:
        self.subscribed.clear()
        self._retry_at = time.monotonic() + retry_s
        logger.warning("%s lost the broker (%s); reconnecting", self._role, err)
