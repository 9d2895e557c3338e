"""The agent's connection to the broker: paho-mqtt 2.x, MQTT v5, QoS 1, last will.

`Link` is the three-method interface the agent sees (plus `is_connected`), so the
agent's tests can use a fake link; `MqttLink` is the one real implementation. It also
subscribes to the device's own config topic (retained, pushed by the hub) and hands
each config payload, unparsed, to the agent.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings
from protocol import Channel, device_topic, last_will

logger = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60


class LinkError(RuntimeError):
    """The link could not take a message (it is not sent and must be retried)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The broker's answer to one QoS 1 publish: accepted, or refused with a reason."""

    mid: int
    accepted: bool
    reason: str


OnDelivery = Callable[[Delivery], None]
OnConfig = Callable[[bytes], None]
Birth = Callable[[], bytes]


class Link(Protocol):
    """A connection to the broker that reports each QoS 1 message's fate."""

    def connect(
        self, birth: Birth, on_delivery: OnDelivery, on_config: OnConfig | None = None
    ) -> None:
        """Start connecting in the background and keep reconnecting until closed.

        On every successful connect, publish `birth()` retained on the status topic and
        subscribe to the device's config topic. `on_delivery` is called (from the link's
        own thread) for every PUBACK, `on_config` for every config payload received.
        """
        ...

    def is_connected(self) -> bool:
        """Tell whether the broker accepted the current connection."""
        ...

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue a message; return its message id. Raise `LinkError` if it cannot."""
        ...

    def close(self) -> None:
        """Go offline cleanly: the broker publishes the last will, then disconnect."""
        ...


class MqttLink:
    """The paho-mqtt implementation of `Link` for one device."""

    def __init__(self, settings: MqttSettings, site: str, device: str) -> None:
        self.settings = settings
        self.status_topic = device_topic(site, device, Channel.STATUS, settings.root)
        self.config_topic = device_topic(site, device, Channel.CONFIG, settings.root)
        self.refused = 0
        """PUBACKs with a failure reason code (e.g. 0x87 Not authorized) since start."""
        self._connected = threading.Event()
        self._closing = threading.Event()
        self._failures = 0
        self._birth: Birth = lambda: b""
        self._on_delivery: OnDelivery = lambda _: None
        self._on_config: OnConfig | None = None
        self.client_id = f"{site}-{device}"
        self._client = self._make_client(self.client_id)

    def _make_client(self, client_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        configure_credentials(client, self.settings)
        # Registered before connecting, so the broker knows it from the first session.
        client.will_set(self.status_topic, last_will(), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        return client

    def connect(
        self, birth: Birth, on_delivery: OnDelivery, on_config: OnConfig | None = None
    ) -> None:
        """Start the network thread; it connects, and reconnects with backoff."""
        self._birth, self._on_delivery = birth, on_delivery
        self._on_config = on_config
        # A clean start: the agent's outbox, not a broker session, keeps what is unsent;
        # paho re-sends the QoS 1 messages still awaiting PUBACK after a reconnect.
        self._client.connect_async(
            self.settings.host, self.settings.port, keepalive=KEEPALIVE_S, clean_start=True
        )
        self._client.loop_start()

    def is_connected(self) -> bool:
        """Tell whether the broker accepted the current connection."""
        return self._connected.is_set()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue a message with paho; while disconnected paho keeps it for the reconnect."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise LinkError(
                f"paho refused to queue a message on {topic}: {mqtt.error_string(info.rc)}"
            )
        return info.mid

    def close(self) -> None:
        """Disconnect asking the broker to publish the last will (MQTT v5 reason 0x04)."""
        self._closing.set()
        if self._connected.is_set():
            with_will = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
            self._client.disconnect(reasoncode=with_will)
        else:
            self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def _handle_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:  # the broker closes the socket next: on_disconnect backs off
            logger.error("broker %s refused %s: %s", self.settings.url(), self.client_id, reason)
            return
        self._failures = 0
        self._connected.set()
        logger.info("connected to %s", self.settings.url())
        client.publish(self.status_topic, self._birth(), qos=1, retain=True)
        # Here, not once at start: a clean start forgets subscriptions, so every
        # reconnect subscribes again (and the broker re-sends the retained config).
        if self._on_config is not None:
            client.subscribe(self.config_topic, qos=1)

    def _handle_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        logger.warning("cannot reach broker %s", self.settings.url())
        self._after_failure()

    def _handle_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._closing.is_set():
            return
        if was_connected:
            logger.warning("lost broker %s: %s", self.settings.url(), reason)
        self._after_failure()

    def _after_failure(self) -> None:
        """Add a random wait to paho's exponential backoff (1, 2, 4 ... 60 s).

        paho's backoff is the same on every device, so after the hub restarts every
        Pi of the kitchen would knock at the same instants; the jitter (up to half
        the current step) spreads them. It runs on paho's network thread, which has
        nothing else to do until it reconnects; closing cuts it short.
        """
        self._failures += 1
        step = min(RECONNECT_MIN_S * 2 ** min(self._failures - 1, 10), RECONNECT_MAX_S)
        self._closing.wait(random.uniform(0, step / 2))  # noqa: S311  (not cryptographic)

    def _handle_message(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        if message.topic == self.config_topic and self._on_config is not None:
            self._on_config(bytes(message.payload))

    def _handle_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            self.refused += 1
            logger.warning("broker refused message %d: %s", mid, reason)
        self._on_delivery(Delivery(mid, not reason.is_failure, str(reason)))
