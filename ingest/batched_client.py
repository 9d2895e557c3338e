"""A paho client that reads the socket in large chunks and sends many PUBACKs at once.

paho reads every packet with three or four `recv` calls (one byte of header, the length
bytes one at a time, then the body) and a `select` before each packet, and sends each
PUBACK with a `send` of its own plus a wake-up byte to its loop thread. Draining a queue of
small messages, those system calls cost more than validating the messages. This client
changes only how bytes move between the socket and paho's packet parser: the packets on
the wire, their order and paho's state machine are the same.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

_CHUNK = 256 * 1024
_PUBACK = struct.Struct("!BBH")


class BatchedClient(mqtt.Client):
    """`paho.mqtt.client.Client` with buffered socket reads and batched acknowledgements."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_buffer = memoryview(b"")
        self._buffered_socket: object = None

    def _sock_recv(self, bufsize: int) -> bytes:
        # Bytes read ahead belong to the socket they came from: a reconnect starts afresh.
        if self._buffered_socket is not self._sock:
            self._buffered_socket, self._read_buffer = self._sock, memoryview(b"")
        if not self._read_buffer:
            chunk = super()._sock_recv(max(bufsize, _CHUNK))
            if len(chunk) <= bufsize:
                return chunk
            self._read_buffer = memoryview(chunk)
        taken = bytes(self._read_buffer[:bufsize])
        self._read_buffer = self._read_buffer[bufsize:]
        return taken

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read packets until the socket has nothing more for now (not just one)."""
        rc = super().loop_read(max_packets)
        # select() cannot see bytes already buffered here: handle them before it waits.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._read_buffer and self._sock:
            rc = super().loop_read(max_packets)
        return rc

    def ack_all(self, mids: Iterable[int]) -> None:
        """Queue the PUBACKs of QoS 1 messages as one write, in order."""
        packet = b"".join(_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids)
        if packet:
            # The same bytes paho's `ack` sends for each message, handed over at once.
            self._packet_queue(mqtt.PUBACK, packet, 0, 0)
