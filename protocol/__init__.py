"""The wire contract of PROTOCOL.md v1, shared by the edge agents and the hub.

Topic strings, payload shapes, validation and the storage mapping are defined here
and nowhere else.
"""

from protocol.codec import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS,
    REPLAY_BATCH,
    MessageRejected,
    ProtocolError,
    RejectedReading,
    Telemetry,
    encode_status,
    encode_telemetry,
    last_will,
    parse_status,
    parse_telemetry,
)
from protocol.models import (
    DoorReading,
    OccupancyReading,
    Reading,
    Status,
    TemperatureReading,
    WasteCategory,
    WasteReading,
    epoch_ms,
    format_ts,
    parse_ts,
)
from protocol.storage import Point, reading_point, status_point, to_line, to_lines
from protocol.topics import (
    DEFAULT_ROOT,
    Channel,
    DeviceTopic,
    TopicError,
    device_topic,
    is_slug,
    parse_topic,
    subscription,
)

__all__ = [
    "DEFAULT_ROOT",
    "MAX_PAYLOAD_BYTES",
    "MAX_READINGS",
    "REPLAY_BATCH",
    "Channel",
    "DeviceTopic",
    "DoorReading",
    "MessageRejected",
    "OccupancyReading",
    "Point",
    "ProtocolError",
    "Reading",
    "RejectedReading",
    "Status",
    "Telemetry",
    "TemperatureReading",
    "TopicError",
    "WasteCategory",
    "WasteReading",
    "device_topic",
    "encode_status",
    "encode_telemetry",
    "epoch_ms",
    "format_ts",
    "is_slug",
    "last_will",
    "parse_status",
    "parse_telemetry",
    "parse_topic",
    "parse_ts",
    "reading_point",
    "status_point",
    "subscription",
    "to_line",
    "to_lines",
]
