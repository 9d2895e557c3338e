"""A small MQTT v5 client for the broker tests: CONNACK, PUBACK and SUBACK reason codes."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings
from tests.waiting import wait_until

NOT_AUTHORIZED = 0x87
_ids = itertools.count(1)


class Probe:
    """One connection; every answer of the broker is kept for the test to look at."""

    def __init__(self, settings: MqttSettings, name: str = "probe") -> None:
        self.settings = settings
        self.connack: ReasonCode | None = None
        self.disconnected = threading.Event()
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{name}-{next(_ids)}", protocol=mqtt.MQTTv5
        )
        configure_credentials(self.client, settings)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def connect(self, timeout: float = 10.0) -> ReasonCode:
        """Connect once (no reconnecting) and return the CONNACK's reason code."""
        self.client.connect(self.settings.host, self.settings.port)
        self.client.loop_start()
        wait_until(lambda: self.connack is not None, timeout, message="a CONNACK")
        assert self.connack is not None
        if self.connack.is_failure:
            self.client.loop_stop()
        return self.connack

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return wait_until(lambda: self.pubacks.get(info.mid), message=f"PUBACK on {topic}")

    def subscribe(self, *topics: str) -> list[ReasonCode]:
        """Subscribe at QoS 1; return the SUBACK's reason code for each topic."""
        _rc, mid = self.client.subscribe([(topic, 1) for topic in topics])
        return wait_until(lambda: self.subacks.get(mid), message=f"SUBACK for {topics}")

    def received(self, topic: str) -> list[bytes]:
        """The payloads received on a topic so far."""
        with self._lock:
            return [payload for t, payload in self.messages if t == topic]

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack = reason

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self.pubacks[mid] = reason

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        self.subacks[mid] = reasons

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))


def connack_of(settings: MqttSettings) -> ReasonCode:
    """Try to log in; return the CONNACK's reason code (and disconnect)."""
    probe = Probe(settings, "login")
    try:
        return probe.connect()
    finally:
        probe.close()
