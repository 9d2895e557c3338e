"""What the guard plugin costs the broker per allowed publish: broker CPU with and without it.

    python broker/plugin/guard_cost.py                 # 3 rounds of 200,000 publishes each
    python broker/plugin/guard_cost.py --messages 50000 --rounds 1

Two private brokers with the same ACL file (a device's own rules), one also loading
build/broker/canteen_guard.so. A device login sends QoS 1 publishes to its own telemetry
topic, as fast as a raw socket can write them, and reads every PUBACK; nobody subscribes,
so the broker's work is little more than the ACL check and the PUBACK, which makes the
plugin's share as large as it can be. The figure is the broker process's own CPU time
(user + system, from /proc) divided by the publishes.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from canteen.local_services import GUARD_PLUGIN, LocalMosquitto  # noqa: E402

USER = "canteen-site-a-cold-room"
TOPIC = "canteen/site-a/cold-room/telemetry"
PAYLOAD = b'{"v":1,"seq":1,"sent":"2026-12-01T10:00:00.000Z","readings":[]}'
ACL = f"user {USER}\ntopic write {TOPIC}\n"


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _remaining(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _remaining(len(body)) + body


def _connect_packet() -> bytes:
    # MQTT 5 (PUBACKs carry a reason code), clean start, username flag, keepalive 60 s
    variable = _string("MQTT") + bytes([5, 0x82]) + struct.pack("!H", 60) + b"\x00"
    return _packet(0x10, variable + _string("guard-cost") + _string(USER))


def _publishes(count: int) -> bytes:
    topic = _string(TOPIC)
    return b"".join(
        _packet(0x32, topic + struct.pack("!H", mid % 65535 + 1) + b"\x00" + PAYLOAD)
        for mid in range(count)
    )


class Reader:
    """Reads whole MQTT packets (with remaining lengths under 128) off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def packets(self, count: int) -> list[bytes]:
        """The next `count` packets."""
        found: list[bytes] = []
        at = 0
        while len(found) < count:
            while (
                len(self._buffer) >= at + 2 and len(self._buffer) >= at + 2 + self._buffer[at + 1]
            ):
                end = at + 2 + self._buffer[at + 1]
                found.append(bytes(self._buffer[at:end]))
                at = end
                if len(found) == count:
                    break
            if len(found) < count:
                chunk = self._sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("the broker closed the connection")
                self._buffer += chunk
        del self._buffer[:at]
        return found


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round(broker: LocalMosquitto, packets: bytes, count: int) -> float:
    """Broker CPU microseconds per publish for one batch."""
    pid = broker.pid
    if pid is None:
        raise RuntimeError("the broker is not running")
    with socket.create_connection((broker.host, broker.port)) as sock:
        reader = Reader(sock)
        sock.sendall(_connect_packet())
        [connack] = reader.packets(1)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"the broker refused the login: {connack.hex()}")
        before = _cpu_seconds(pid)
        sock.sendall(packets)
        pubacks = reader.packets(count)
        after = _cpu_seconds(pid)
    # a success PUBACK is 4 bytes (no reason code); a refusal names one, 0x87
    refused = [p for p in pubacks if p[0] != 0x40 or (len(p) > 4 and p[4] >= 0x80)]
    if refused:
        raise RuntimeError(f"{len(refused)} publishes refused (first: {refused[0].hex()})")
    return (after - before) / count * 1e6


def main() -> None:
    """Measure both brokers in alternating rounds and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not GUARD_PLUGIN.is_file():
        sys.exit(f"{GUARD_PLUGIN} is missing: run scripts/setup.sh test")
    packets = _publishes(args.messages)
    with tempfile.TemporaryDirectory() as work:
        acl = Path(work) / "acl"
        acl.write_text(ACL, encoding="utf-8")
        common = f"acl_file {acl}\nlog_type error\n"
        brokers = {
            "ACL file only": LocalMosquitto(Path(work) / "plain", extra=common),
            "ACL file + guard plugin": LocalMosquitto(
                Path(work) / "guard", extra=f"{common}plugin {GUARD_PLUGIN}\n"
            ),
        }
        results: dict[str, list[float]] = {name: [] for name in brokers}
        try:
            for broker in brokers.values():
                broker.start()
            for _ in range(args.rounds):
                for name, broker in brokers.items():
                    results[name].append(_round(broker, packets, args.messages))
        finally:
            for broker in brokers.values():
                broker.stop()
    print(f"{args.messages:,} QoS 1 publishes a round, {args.rounds} rounds, median:")
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, median in medians.items():
        print(f"  {name:<24} {median:6.2f} µs broker CPU per publish")
    plain, guard = medians.values()
    print(f"  difference               {guard - plain:+6.2f} µs ({(guard / plain - 1):+.1%})")


if __name__ == "__main__":
    main()
