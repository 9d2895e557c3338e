"""Turn one received MQTT message into line-protocol lines and dead letters (no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from protocol import (
    Channel,
    DeviceTopic,
    MessageRejected,
    ProtocolError,
    TopicError,
    epoch_ms,
    parse_status,
    parse_telemetry,
    parse_topic,
    reading_point,
    status_point,
    to_line,
)
from protocol.codec import DEFAULT_MAX_AGE
from protocol.fast_telemetry import fast_telemetry


class Inbound(NamedTuple):
    """A message as the broker delivered it, with what is needed to acknowledge it.

    A named tuple rather than a dataclass: the ingest makes one per message, tens of
    thousands a second while it drains a queue, and a tuple is the cheapest to build.
    """

    topic: str
    payload: bytes
    received: datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something rejected, kept with the reason and the raw input for an operator."""

    received: datetime
    topic: str
    reason: str
    payload: bytes
    reading_index: int | None = None


@dataclass(slots=True)
class Processed:
    """What one message yields: lines to write, dead letters, and the telemetry's identity."""

    lines: list[str] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    topic: DeviceTopic | None = None
    """Set for a telemetry message that was read (whatever became of its readings)."""
    seq: int = 0
    sent_ms: int = 0
    """The message's `sent`, in milliseconds since the epoch."""
    readings_rejected: int = 0


def _raw_reading(raw: object) -> bytes:
    try:
        return json.dumps(raw, ensure_ascii=False, allow_nan=True).encode()
    except (TypeError, ValueError, RecursionError):
        return repr(raw).encode()


@dataclass(frozen=True, slots=True)
class MessageProcessor:
    """Validates messages against PROTOCOL.md and maps them to InfluxDB lines."""

    root: str = "canteen"
    max_age: timedelta = DEFAULT_MAX_AGE

    def process(self, message: Inbound) -> Processed:
        """Validate one message; never raises for bad input."""
        out = Processed()
        try:
            topic = parse_topic(message.topic, self.root)
            if topic.channel is Channel.TELEMETRY:
                self._telemetry(topic, message, out)
            elif topic.channel is Channel.STATUS:
                status = parse_status(topic, message.payload)
                point = status_point(topic.site, topic.device, status, message.received)
                out.lines.append(to_line(point))
            else:
                raise MessageRejected(f"the hub does not take {topic.channel.value} messages")
        except (ProtocolError, TopicError) as err:
            out.dead.append(DeadLetter(message.received, message.topic, str(err), message.payload))
        return out

    def _telemetry(self, topic: DeviceTopic, message: Inbound, out: Processed) -> None:
        fast = fast_telemetry(topic, message.payload, message.received, self.max_age)
        if fast is not None:
            out.topic, out.seq, out.sent_ms, out.lines = topic, fast.seq, fast.sent_ms, fast.lines
            return
        telemetry = parse_telemetry(topic, message.payload, message.received, self.max_age)
        out.topic, out.seq, out.sent_ms = topic, telemetry.seq, epoch_ms(telemetry.sent)
        site, device = topic.site, topic.device
        out.lines.extend(to_line(reading_point(site, device, r)) for r in telemetry.readings)
        for rejected in telemetry.rejected:
            out.readings_rejected += 1
            out.dead.append(
                DeadLetter(
                    message.received,
                    message.topic,
                    f"reading {rejected.index}: {rejected.reason}",
                    _raw_reading(rejected.raw),
                    rejected.index,
                )
            )
