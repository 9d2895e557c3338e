"""Notices of the broker's guard plugin: a device refused for publishing under another's topic.

The plugin (broker/plugin/canteen_guard.c) publishes one small JSON notice per refused
publish, at QoS 1, to `ROOT/$hub/denied`, which the hub's login reads and no device's may.
The alert service's own persistent session subscribes to it beside telemetry and status,
so each notice is acknowledged once the alert engine has judged it, like any message.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol import is_slug

logger = logging.getLogger(__name__)

DEVICE_PREFIX = "canteen-"
"""A device's broker login is canteen-SITE-DEVICE (canteen/provision/registry.py)."""


def notice_topic(root: str) -> str:
    """The topic the guard plugin reports refused publishes on."""
    return f"{root}/$hub/denied"


class PublishDenied(BaseModel):
    """One publish the broker refused: who tried, on which topic, what it carried."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = Field(title="Notice format version")
    username: str = Field(title="The login that tried")
    client_id: str = Field(title="Its MQTT client id")
    topic: str = Field(title="The refused topic (cut after 256 bytes)")
    qos: int = Field(ge=0, le=2, title="QoS of the refused publish")
    retain: bool = Field(title="Whether it was to be retained")
    payload_bytes: int = Field(ge=0, title="Size of its payload")
    at: datetime = Field(title="When the broker refused it (UTC)")
    held: int = Field(0, ge=0, title="Notices not sent before this one (the plugin's cap)")


def parse_notice(payload: bytes) -> PublishDenied:
    """Read a notice; ValueError says what is wrong with it."""
    try:
        return PublishDenied.model_validate_json(payload)
    except ValidationError as err:
        raise ValueError(f"not a guard notice: {err}") from err


def login_owner(
    username: str, known: Collection[tuple[str, str]], sites: Collection[str] = ()
) -> tuple[str, str] | None:
    """The site and device of a canteen-SITE-DEVICE login, None for another kind of login.

    Slugs contain dashes, so the name splits more than one way: a device the hub has heard
    from wins, then a site the hub has phones for, then the first split.
    """
    if not username.startswith(DEVICE_PREFIX):
        return None
    rest = username.removeprefix(DEVICE_PREFIX)
    splits = [
        (rest[:i], rest[i + 1 :])
        for i, char in enumerate(rest)
        if char == "-" and is_slug(rest[:i]) and is_slug(rest[i + 1 :])
    ]
    for candidates in ([s for s in splits if s in known], [s for s in splits if s[0] in sites]):
        if candidates:
            return candidates[0]
    return splits[0] if splits else None
