"""Receive telemetry and status from Mosquitto with a persistent session and manual acks."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings
from ingest.batched_client import BatchedClient
from ingest.pipeline import Inbound
from protocol import Channel, subscription

logger = logging.getLogger(__name__)


class MqttInbox:
    """Puts every received message on a queue and acknowledges it only when told to.

    The session is persistent (`clean_start=False` with a session expiry), so what the
    broker queued while the ingest was down is delivered when it comes back. The broker
    sends at most `receive_maximum` unacknowledged messages, which bounds the queue.
    Acks of messages received before a reconnect are not sent: the broker re-delivers
    those, and their packet ids may already belong to other messages.
    """

    def __init__(
        self,
        settings: MqttSettings,
        inbox: queue.Queue[Inbound],
        clock: Callable[[], datetime],
        client_id: str = "canteen-ingest",
        receive_maximum: int = 1000,
        session_expiry_s: int = 7 * 24 * 3600,
        role: str = "ingest",
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._clock = clock
        self._receive_maximum = receive_maximum
        self._session_expiry_s = session_expiry_s
        self._role = role
        self._generation = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client = BatchedClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        configure_credentials(self._client, settings)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until `stop`."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._session_expiry_s
        properties.ReceiveMaximum = self._receive_maximum
        self._client.connect_async(
            self._settings.host,
            self._settings.port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def ack(self, message: Inbound) -> None:
        """Acknowledge a message whose points are stored (only on its own connection)."""
        with self._lock:
            current = self._generation
        if message.generation == current and message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def ack_all(self, messages: Sequence[Inbound]) -> None:
        """Acknowledge stored messages, in order, in one write (only on their own connection).

        The lock is held while the PUBACKs are queued: a reconnect (which empties paho's
        outgoing queue) cannot slip in between the generation check and the queueing.
        """
        with self._lock:
            current = self._generation
            ours = [m for m in messages if m.generation == current]
            self._client.ack_all(m.mid for m in ours if m.qos == 1)
            for message in ours:
                if message.qos == 2:  # never at the subscription's QoS 1, but complete
                    self._client.ack(message.mid, message.qos)

    def stop(self) -> None:
        """Disconnect; the broker keeps the session and queues what arrives meanwhile."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.error(
                "the broker at %s refused the %s: %s; check the user and password in "
                "CANTEEN_MQTT_URL and the broker's ACL",
                self._settings.url(),
                self._role,
                reason_code,
            )
            return
        with self._lock:
            self._generation += 1
        root = self._settings.root
        options = SubscribeOptions(qos=1)
        client.subscribe(
            [
                (subscription(Channel.TELEMETRY, root), options),
                (subscription(Channel.STATUS, root), options),
            ]
        )
        self.connected.set()
        logger.info("%s connected to %s", self._role, self._settings.url())

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            logger.error("the broker refused the %s's subscriptions: %s", self._role, refused)
            return
        self.subscribed.set()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        logger.error(
            "cannot reach the MQTT broker at %s; is mosquitto running? (set CANTEEN_MQTT_URL "
            "to where it runs); retrying",
            self._settings.url(),
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if reason_code.is_failure:
            logger.warning("%s lost the broker (%s); reconnecting", self._role, reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            generation = self._generation
        self._inbox.put(
            Inbound(
                message.topic,
                bytes(message.payload),
                self._clock(),
                message.mid,
                message.qos,
                generation,
            )
        )
