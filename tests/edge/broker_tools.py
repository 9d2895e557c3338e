"""Tools for the agent's broker tests: a subscriber that records, a relay that can cut."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import struct
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings

_ids = itertools.count(1)


class Observer:
    """A subscriber to one site's telemetry and status, as the hub's ingest would be."""

    def __init__(self, host: str, port: int, site: str, login: MqttSettings | None = None) -> None:
        """Subscribe to `site`; `login` gives user, password and TLS for a secured broker."""
        self.site = site
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"observer-{next(_ids)}", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_disconnect = lambda *_: self.subscribed.clear()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        if login is not None:
            configure_credentials(self.client, login)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(
            [(f"canteen/{self.site}/+/telemetry", 1), (f"canteen/{self.site}/+/status", 1)]
        )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def telemetry(self) -> list[dict[str, Any]]:
        """Every telemetry message received, in arrival order (re-deliveries included)."""
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/telemetry")]

    def statuses(self) -> list[tuple[dict[str, Any], bool]]:
        """Every status message received, with its retain flag."""
        with self._lock:
            return [(json.loads(p), r) for t, p, r in self.messages if t.endswith("/status")]

    def seqs_by_reading(self) -> dict[tuple[str, str, str], set[int]]:
        """For each reading (kind, sensor, ts) received, the seqs of the messages carrying it."""
        seen: dict[tuple[str, str, str], set[int]] = {}
        for message in self.telemetry():
            for r in message["readings"]:
                seen.setdefault((r["kind"], r["sensor"], r["ts"]), set()).add(message["seq"])
        return seen

    def bodies_agree_per_seq(self) -> bool:
        """Tell whether every re-delivered seq carried exactly the same readings."""
        by_seq: dict[int, list[Any]] = {}
        for message in self.telemetry():
            if by_seq.setdefault(message["seq"], message["readings"]) != message["readings"]:
                return False
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Relay:
    """A TCP relay in front of the broker: the test can shut it or cut live connections.

    Shut, it accepts and at once closes new connections, so the agent behind it stays
    offline while the test gets the rest ready; `cut` drops every live connection
    without an MQTT DISCONNECT, as a Pi losing power or network would.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.open = threading.Event()
        self.open.set()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port: int = self._server.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                inbound, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                if not self.open.is_set():
                    raise ConnectionRefusedError("relay shut")
                outbound = socket.create_connection(self.target, timeout=2)
            except OSError:
                inbound.close()
                continue
            outbound.settimeout(None)
            self._pairs.append((inbound, outbound))
            for source, sink in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        """Drop every live connection abruptly (RST to the agent, EOF to the broker)."""
        pairs, self._pairs = self._pairs, []
        for inbound, outbound in pairs:
            with contextlib.suppress(OSError):
                inbound.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            for sock in (inbound, outbound):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._server.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
