"""Notices of the broker's guard plugin: a device refused for publishing under another's topic.

The plugin (broker/plugin/canteen_guard.c) publishes one small JSON notice per refused
publish, at QoS 1, to `ROOT/$hub/denied`, which the hub's login reads and no device's may.
`DenialFeed` is a persistent session of its own on that one topic (the alert service's
main session, the ingest's lean `MqttSession`, subscribes to telemetry and status only); each
notice is acknowledged once the alert engine has judged it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings
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


OnNotice = Callable[[PublishDenied, datetime, Callable[[], None]], None]
"""Called with a notice, when it arrived, and the call that acknowledges it."""


class DenialFeed:
    """A persistent MQTT session on the guard's notice topic; acknowledges when told."""

    def __init__(
        self,
        settings: MqttSettings,
        on_notice: OnNotice,
        clock: Callable[[], datetime],
        client_id: str,
        session_expiry_s: int,
    ) -> None:
        self._settings = settings
        self._on_notice = on_notice
        self._clock = clock
        self._session_expiry_s = session_expiry_s
        self.topic = notice_topic(settings.root)
        self._generation = 0  # a notice is acknowledged on its own connection only
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._client.manual_ack_set(True)
        configure_credentials(self._client, settings)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until `stop`."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._session_expiry_s
        self._client.connect_async(
            self._settings.host, self._settings.port, clean_start=False, properties=properties
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect; the broker keeps the session and queues notices meanwhile."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            logger.error("the broker refused the alert service's guard feed: %s", reason)
            return
        self._generation += 1
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        mid, qos, generation = message.mid, message.qos, self._generation

        def ack() -> None:  # after a reconnect the broker sends it again, maybe as another mid
            if generation == self._generation and qos > 0:
                client.ack(mid, qos)

        try:
            notice = parse_notice(bytes(message.payload))
        except ValueError as err:
            logger.warning("skipped a message on %s: %s", message.topic, err)
            ack()
            return
        self._on_notice(notice, self._clock(), ack)
