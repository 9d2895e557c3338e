"""Build and parse the MQTT topics of PROTOCOL.md v1."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

DEFAULT_ROOT = "canteen"
SLUG_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
_SLUG = re.compile(SLUG_PATTERN)


class Channel(StrEnum):
    """The last level of a device topic: what the message is."""

    TELEMETRY = "telemetry"
    STATUS = "status"
    CONFIG = "config"


class TopicError(ValueError):
    """A topic that is not `{root}/{site}/{device}/{channel}` with valid slugs."""


def is_slug(value: str) -> bool:
    """Tell whether a site, device, sensor or dish name is a valid slug."""
    return _SLUG.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """One device's topic: where it publishes telemetry and status, and reads config."""

    site: str
    device: str
    channel: Channel
    root: str = DEFAULT_ROOT

    def __str__(self) -> str:
        return f"{self.root}/{self.site}/{self.device}/{self.channel.value}"


def device_topic(site: str, device: str, channel: Channel, root: str = DEFAULT_ROOT) -> str:
    """Return the topic string for a device's channel, refusing bad slugs."""
    for name, value in (("site", site), ("device", device)):
        if not is_slug(value):
            raise TopicError(f"{name} {value!r} is not a slug ({SLUG_PATTERN})")
    return str(DeviceTopic(site, device, channel, root))


# Every message of a device repeats its topic. Only topics that parse are remembered, and
# those are short (four slugs), so hostile topics cannot grow the cache's memory.
@lru_cache(maxsize=4096)
def parse_topic(topic: str, root: str = DEFAULT_ROOT) -> DeviceTopic:
    """Split a received topic into site, device and channel."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != root:
        raise TopicError(f"topic {topic!r} is not {root}/{{site}}/{{device}}/{{channel}}")
    _, site, device, channel = parts
    if not is_slug(site) or not is_slug(device):
        raise TopicError(f"topic {topic!r} has a site or device that is not a slug")
    try:
        return DeviceTopic(site, device, Channel(channel), root)
    except ValueError as err:
        raise TopicError(f"topic {topic!r} has unknown channel {channel!r}") from err


def subscription(channel: Channel, root: str = DEFAULT_ROOT, site: str = "+") -> str:
    """Return the wildcard filter for one channel of every device of a site (or all sites)."""
    return f"{root}/{site}/+/{channel.value}"
