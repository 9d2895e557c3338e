"""The examples of PROTOCOL.md, with their dates moved to the present."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from protocol import format_ts

# Each reading of the telemetry example, as PROTOCOL.md writes it; `ts` offsets are
# seconds before the message's `sent` (they keep the example's spacing).
TELEMETRY_READINGS: list[tuple[float, dict[str, Any]]] = [
    (0.12, {"kind": "temperature", "sensor": "fridge-1", "celsius": 3.62}),
    (0.81, {"kind": "door", "sensor": "fridge-1", "open": True}),
    (
        3.22,
        {
            "kind": "waste",
            "sensor": "bin-plate",
            "grams": 412.0,
            "category": "plate",
            "dish": "braised-pork",
        },
    ),
    (
        5.12,
        {"kind": "occupancy", "sensor": "dining-main", "entered": 3, "exited": 1, "present": 42},
    ),
]

# What each reading becomes in InfluxDB: measurement, extra tags, fields.
EXPECTED_STORAGE: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("temperature", {}, {"celsius": 3.62}),
    ("door", {}, {"open": True}),
    ("waste", {"category": "plate", "dish": "braised-pork"}, {"grams": 412.0}),
    ("occupancy", {}, {"entered": 3, "exited": 1, "present": 42}),
]


def telemetry_example(sent: datetime, seq: int = 1042) -> bytes:
    """PROTOCOL.md's telemetry example, sent at `sent`."""
    readings = [
        {**body, "ts": format_ts(sent - timedelta(seconds=before))}
        for before, body in TELEMETRY_READINGS
    ]
    document = {"v": 1, "seq": seq, "sent": format_ts(sent), "readings": readings}
    return json.dumps(document).encode()


def birth_example(ts: datetime) -> bytes:
    """PROTOCOL.md's birth status example."""
    return json.dumps(
        {
            "v": 1,
            "online": True,
            "ts": format_ts(ts),
            "agent": "1.4.0",
            "sensors": ["fridge-1", "freezer-1"],
            "backlog": 0,
        }
    ).encode()


LAST_WILL_EXAMPLE = b'{"v": 1, "online": false}'
