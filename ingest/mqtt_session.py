"""A lean MQTT 5 subscriber for the ingest: one socket, packets parsed in bulk.

Draining a broker's queue of small messages, a general-purpose client spends most of
the ingest's CPU on each message's objects (paho builds an `MQTTMessage`, a
`Properties`, a topic match and a callback per PUBLISH, on a thread of its own that
then hands the message over). The ingest needs little of MQTT: connect with a
persistent session, subscribe at QoS 1, receive PUBLISH packets, acknowledge them after
the write, keep the connection alive. This module does that and nothing else (no
publishing, no will, no QoS 2: the subscription's QoS 1 caps what the broker may send).
The dashboard's feed uses it as a watcher only: a clean session subscribed at QoS 0.

Reads take up to 256 KiB at a time and every complete packet in them is parsed before
the next read. The caller's thread does the reading; a small keep-alive thread sends a
PINGREQ only when the caller has been away from the socket for half the keep-alive (a
long InfluxDB outage), so the broker does not drop the session's connection meanwhile.
One lock orders all socket I/O, so TLS records from two threads never interleave.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from canteen.settings import MqttSettings
from ingest.pipeline import Inbound

logger = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_PUBACK = struct.Struct("!BBH")
_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"
_CONNECT, _CONNACK, _PUBLISH, _SUBSCRIBE, _SUBACK = 1, 2, 3, 8, 9
_PINGRESP, _DISCONNECT_TYPE = 13, 14
_REASONS = {
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x9F: "connection rate exceeded",
}


class ConnectionLost(ConnectionError):
    """The connection to the broker ended or broke; reconnect to go on."""


class BrokerRefused(ConnectionError):
    """The broker answered CONNECT or SUBSCRIBE with a failure reason code."""

    def __init__(self, what: str, code: int) -> None:
        self.code = code
        super().__init__(f"{what}: {_REASONS.get(code, 'reason')} (0x{code:02x})")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


def connect_packet(
    client_id: str,
    keepalive_s: int,
    session_expiry_s: int,
    receive_maximum: int,
    username: str | None,
    password: str | None,
    clean_start: bool = False,
) -> bytes:
    """CONNECT with the given limits: a persistent session (clean start off) by default."""
    flags = 0x02 if clean_start else 0
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    properties = struct.pack("!BIBH", 0x11, session_expiry_s, 0x21, receive_maximum)
    variable = (
        _string("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
        + _varint(len(properties)) + properties
    )  # fmt: skip
    return _packet(_CONNECT, 0, variable + payload)


def subscribe_packet(packet_id: int, filters: Sequence[str], qos: int = 1) -> bytes:
    """SUBSCRIBE to every filter at one QoS, without properties."""
    body = struct.pack("!H", packet_id) + b"\x00"
    for topic_filter in filters:
        body += _string(topic_filter) + bytes([qos])
    return _packet(_SUBSCRIBE, 2, body)


def puback_packets(packet_ids: Iterable[int]) -> bytes:
    """PUBACKs (success, no reason code, as MQTT 5 allows) for many packets, in order."""
    return b"".join(_PUBACK.pack(0x40, 2, packet_id) for packet_id in packet_ids)


def _varint_at(data: bytes | bytearray, index: int) -> tuple[int, int] | None:
    """Decode a variable byte integer at `index`: (value, next index), None if cut short."""
    value, shift, size = 0, 0, len(data)
    while index < size:
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index
        shift += 7
        if shift > 21:
            raise ConnectionLost("malformed packet from the broker (a length over 4 bytes)")
    return None


class PacketReader:
    """Splits the broker's byte stream into packets; keeps an incomplete tail for later.

    PUBLISH packets come out as `Inbound` messages directly (the ingest makes tens of
    thousands a second: one object each); every other packet as (type, body).
    """

    def __init__(self, generation: int) -> None:
        self._buffer = bytearray()
        self._generation = generation

    def feed(
        self, data: bytes, received: datetime
    ) -> tuple[list[Inbound], list[tuple[int, bytes]]]:
        """Add bytes; return the complete PUBLISHes and the other complete packets."""
        buffer = self._buffer
        buffer += data
        size, start = len(buffer), 0
        messages: list[Inbound] = []
        control: list[tuple[int, bytes]] = []
        generation = self._generation
        while size - start >= 2:
            decoded = _varint_at(buffer, start + 1)
            if decoded is None:
                break
            length, index = decoded
            end = index + length
            if end > size:
                break
            first = buffer[start]
            if first >> 4 == _PUBLISH:
                qos = (first >> 1) & 3
                topic_end = index + 2 + (buffer[index] << 8 | buffer[index + 1])
                topic = buffer[index + 2 : topic_end].decode()
                packet_id = 0
                if qos:
                    packet_id = buffer[topic_end] << 8 | buffer[topic_end + 1]
                    topic_end += 2
                # The properties: a length, then bytes to skip (none are used here).
                properties = _varint_at(buffer, topic_end)
                if properties is None:
                    raise ConnectionLost("malformed PUBLISH from the broker (properties)")
                skip, cursor = properties
                payload = bytes(buffer[cursor + skip : end])
                messages.append(Inbound(topic, payload, received, packet_id, qos, generation))
            else:
                control.append((first >> 4, bytes(buffer[index:end])))
            start = end
        del buffer[:start]
        return messages, control


class MqttSession:
    """Connections to the broker for one persistent QoS 1 subscription.

    `clean_start=True` with `session_expiry_s=0` and `qos=0` makes it a watcher instead:
    the broker keeps nothing for it and it never acknowledges anything.

    Every connection has a generation number, carried by the messages it delivers:
    acknowledging a message on a later connection would acknowledge another one (packet
    ids are per connection), so `ack` sends only those of the current connection.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        receive_maximum: int,
        session_expiry_s: int,
        clock: Callable[[], datetime],
        keepalive_s: int = 30,
        timeout_s: float = 10.0,
        clean_start: bool = False,
        qos: int = 1,
    ) -> None:
        self._settings = settings
        self._clean_start = clean_start
        self._qos = qos
        self._client_id = client_id
        self._receive_maximum = receive_maximum
        self._session_expiry_s = session_expiry_s
        self._clock = clock
        self._keepalive_s = keepalive_s
        self._timeout_s = timeout_s
        self._io = threading.Lock()
        self._sock: socket.socket | None = None
        self.generation = 0
        self._reader = PacketReader(0)
        self._pending: list[Inbound] = []
        self._last_sent = 0.0
        self._ping_unanswered_since: float | None = None
        self.subscribed = False
        """Whether the broker granted this connection's subscriptions (False once it is gone)."""

    @property
    def connected(self) -> bool:
        """Whether a connection is open (it may still turn out to be broken)."""
        return self._sock is not None

    # --- connecting ---------------------------------------------------------------------
    def connect(self, filters: Sequence[str]) -> bool:
        """Connect, subscribe (QoS 1 unless told); return whether the broker had our session."""
        self.close(send_disconnect=False)
        settings = self._settings
        try:
            raw = socket.create_connection((settings.host, settings.port), self._timeout_s)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock: socket.socket = raw
            if settings.tls:
                context = ssl.create_default_context(cafile=settings.ca_file)
                sock = context.wrap_socket(raw, server_hostname=settings.host)
        except OSError as err:
            raise ConnectionLost(f"cannot reach the broker: {err}") from err
        self.generation += 1
        self._sock, self._reader, self._pending = sock, PacketReader(self.generation), []
        self._ping_unanswered_since = None
        password = settings.password.get_secret_value() if settings.password else None
        self._send(
            connect_packet(
                self._client_id,
                self._keepalive_s,
                self._session_expiry_s,
                self._receive_maximum,
                settings.username,
                password,
                self._clean_start,
            )
        )
        connack = self._await(_CONNACK)
        if len(connack) < 2 or connack[1] >= 0x80:
            self.close(send_disconnect=False)
            raise BrokerRefused("the broker refused the connection", connack[1] if connack else 0)
        # Not waiting for the SUBACK here: a broker that kept our session starts sending
        # its queue right after CONNACK, and waiting would mean holding all of that (up to
        # the receive maximum) in memory. `receive` checks the SUBACK when it comes.
        self.subscribed = False
        self._send(subscribe_packet(1, filters, self._qos))
        threading.Thread(
            target=self._keep_alive, args=(sock,), name="mqtt-keepalive", daemon=True
        ).start()
        return bool(connack[0] & 1)

    def _await(self, wanted: int) -> bytes:
        """Read until a packet of one type arrives; keep the PUBLISHes that come first."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close(send_disconnect=False)
                raise ConnectionLost("the broker did not answer in time")
            messages, control = self._read(remaining)
            self._pending.extend(messages)
            for kind, body in control:
                if kind == wanted:
                    return body
                self._control(kind, body)

    # --- receiving and acknowledging ----------------------------------------------------
    def receive(self, timeout: float) -> list[Inbound]:
        """The messages that arrive within `timeout` s (all those already buffered)."""
        if self._pending:
            pending, self._pending = self._pending, []
            return pending
        now = time.monotonic()
        half = self._keepalive_s / 2
        unanswered = self._ping_unanswered_since
        if unanswered is not None and now - unanswered > self._keepalive_s:
            self.close(send_disconnect=False)
            raise ConnectionLost("the broker went silent (no answer to a keep-alive ping)")
        if now - self._last_sent >= half:
            self._send(_PINGREQ)
            if unanswered is None:
                self._ping_unanswered_since = now
        messages, control = self._read(min(timeout, half))
        for kind, body in control:
            self._control(kind, body)
        return messages

    def ack(self, messages: Iterable[Inbound]) -> None:
        """Send the PUBACKs of stored QoS 1 messages of this connection, in order, at once."""
        generation = self.generation
        packet = puback_packets(
            m.mid for m in messages if m.qos == 1 and m.generation == generation
        )
        if packet and self._sock is not None:
            self._send(packet)

    def close(self, send_disconnect: bool = True) -> None:
        """Close the connection; the broker keeps the session for `session_expiry_s`."""
        with self._io:
            sock, self._sock = self._sock, None
            self.subscribed = False
            if sock is None:
                return
            try:
                if send_disconnect:
                    sock.settimeout(1.0)
                    sock.sendall(_DISCONNECT)
                    # Let the broker close first: closing a socket with unread bytes in it
                    # sends a reset, and the broker would drop the last PUBACKs unread.
                    deadline = time.monotonic() + 1.0
                    while sock.recv(_CHUNK) and time.monotonic() < deadline:
                        pass
            except OSError:
                pass
            sock.close()

    # --- the socket ---------------------------------------------------------------------
    def _read(self, timeout: float) -> tuple[list[Inbound], list[tuple[int, bytes]]]:
        with self._io:
            sock = self._sock
            if sock is None:
                raise ConnectionLost("not connected")
            try:
                sock.settimeout(max(timeout, 0.001))
                data = sock.recv(_CHUNK)
            except TimeoutError:
                return [], []
            except OSError as err:
                self._drop(sock)
                raise ConnectionLost(f"the connection to the broker broke: {err}") from err
            if not data:
                self._drop(sock)
                raise ConnectionLost("the broker closed the connection")
            self._ping_unanswered_since = None
            return self._reader.feed(data, self._clock())

    def _send(self, data: bytes) -> None:
        with self._io:
            sock = self._sock
            if sock is None:
                raise ConnectionLost("not connected")
            try:
                sock.settimeout(self._timeout_s)
                sock.sendall(data)
            except OSError as err:
                self._drop(sock)
                raise ConnectionLost(f"the connection to the broker broke: {err}") from err
            self._last_sent = time.monotonic()

    def _drop(self, sock: socket.socket) -> None:
        """Forget a broken socket (the I/O lock is held)."""
        if self._sock is sock:
            self._sock = None
            self.subscribed = False
        sock.close()

    def _control(self, kind: int, body: bytes) -> None:
        if kind == _DISCONNECT_TYPE:
            code = body[0] if body else 0
            self.close(send_disconnect=False)
            raise ConnectionLost(
                f"the broker disconnected us: {_REASONS.get(code, 'reason')} (0x{code:02x})"
            )
        if kind == _SUBACK:
            properties = _varint_at(body, 2)
            codes = body[properties[0] + properties[1] :] if properties else b"\x81"
            refused = [code for code in codes if code >= 0x80]
            if refused:
                self.close()
                raise BrokerRefused("the broker refused the subscription", refused[0])
            self.subscribed = True
        elif kind != _PINGRESP:
            logger.debug("ignored an MQTT packet of type %d from the broker", kind)

    def _keep_alive(self, sock: socket.socket) -> None:
        """Ping while the caller is away from the socket (a long write), until it closes."""
        period = self._keepalive_s / 4
        while self._sock is sock:
            time.sleep(period)
            if self._sock is sock and time.monotonic() - self._last_sent >= self._keepalive_s / 2:
                try:
                    self._send(_PINGREQ)
                except ConnectionLost:
                    return
