"""Push a device's retained config to the broker (QoS 1) and tell whether it was taken.

A paho client that only publishes: it subscribes to nothing, so it receives nothing but
its own acknowledgements. The wall screen's messages come in on the feed's lean session
(`dashboard.mqtt_feed`); a manager pushes a config now and then, and paho already does
what that needs (a PUBACK's reason code to wait for, reconnecting with backoff).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings

logger = logging.getLogger(__name__)

PUBACK_TIMEOUT_S = 5.0


class ConfigPublisher:
    """A publish-only paho client for devices' retained configs."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self._settings = settings
        self.connected = threading.Event()
        self._stopping = False
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        configure_credentials(self._client, settings)
        self._client.reconnect_delay_set(min_delay=1, max_delay=15)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
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
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            logger.error(
                "the broker at %s refused the dashboard's publisher: %s",
                self._settings.url(),
                reason,
            )
            return
        self.connected.set()

    def _handle_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            logger.warning("the dashboard's publisher lost the broker (%s); reconnecting", reason)
