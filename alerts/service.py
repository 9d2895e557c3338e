"""The alert service: its own persistent MQTT session feeding one worker thread.

The session is persistent (QoS 1, `clean_start=False`), so what devices publish while
the hub restarts is delivered afterwards and an excursion is judged on every reading.
Messages and clock ticks go through one queue to one thread, which owns the engine.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from time import monotonic
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alerts.engine import AlertEngine, OnChange
from alerts.notify import AppriseSender, Deliverer, Sender
from alerts.policy import DEFAULT_POLICIES, UnitPolicy
from alerts.rules import RuleBook
from alerts.settings import AlertSettings
from alerts.store import AlertStore
from canteen.cold_units import UnitKind
from canteen.mqtt_login import configure_credentials
from canteen.settings import MqttSettings
from protocol import (
    Channel,
    ProtocolError,
    TopicError,
    parse_status,
    parse_telemetry,
    parse_topic,
    subscription,
)

logger = logging.getLogger(__name__)

SECRET_FILE = "secret.key"  # noqa: S105  (a file name, not a secret)


def load_secret_key(state_dir: Path, configured: str | None) -> bytes:
    """The key that signs links: configured, or made once at first start and kept (0600)."""
    if configured:
        if len(configured) < 32:
            raise ValueError(
                "CANTEEN_SECRET_KEY must be at least 32 characters (openssl rand -hex 32)"
            )
        return configured.encode()
    path = state_dir / SECRET_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        logger.info("made a new secret key in %s", path)
    return path.read_text(encoding="utf-8").strip().encode()


def policy_lookup(
    settings: AlertSettings, kind_of: Callable[[str], UnitKind]
) -> Callable[[str, str, str], UnitPolicy]:
    """A unit's rules: its own from the settings, else its kind's, plus its defrost windows."""

    def policy_of(_site: str, _device: str, sensor: str) -> UnitPolicy:
        policy = settings.units.get(sensor) or DEFAULT_POLICIES[kind_of(sensor)]
        windows = settings.defrost.get(sensor)
        return policy.model_copy(update={"defrost": tuple(windows)}) if windows else policy

    return policy_of


class AlertService:
    """Runs the alert engine on a broker's stream until stopped."""

    def __init__(
        self,
        settings: AlertSettings,
        mqtt_settings: MqttSettings,
        store: AlertStore,
        rules: RuleBook,
        secret_key: bytes,
        day_start: Callable[[datetime], datetime],
        on_change: OnChange = lambda _site: None,
        sender: Sender | None = None,
        client_id: str = "canteen-alerts",
    ) -> None:
        self.settings = settings
        self.store = store
        self.secret_key = secret_key
        deliverer = Deliverer(
            settings, store, sender or AppriseSender(), secret_key, day_start, on_change
        )
        self.deliverer = deliverer
        self.engine = AlertEngine(settings, rules, store, deliverer, on_change)
        self._mqtt = mqtt_settings
        self._work: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        configure_credentials(self._client, mqtt_settings)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self.subscribed.set()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> None:
        """Connect and start the worker."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 24 * 3600
        self._client.connect_async(
            self._mqtt.host, self._mqtt.port, keepalive=30, clean_start=False, properties=properties
        )
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        """Disconnect (the broker keeps the session), then judge what came in, and stop."""
        # Disconnect first: a message paho has acknowledged is in the queue, and the
        # worker empties the queue before it ends, so a restart loses no reading.
        self._client.disconnect()
        self._client.loop_stop()
        self._stop.set()
        self._thread.join(10)

    def submit(self, action: Callable[[AlertEngine], None]) -> None:
        """Run something on the engine's thread (a person's acknowledgement, a test)."""
        self._work.put(("call", action))

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            logger.error("the broker refused the alert service: %s", reason)
            return
        root = self._mqtt.root
        client.subscribe(
            [(subscription(Channel.TELEMETRY, root), 1), (subscription(Channel.STATUS, root), 1)]
        )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        self._work.put(("message", (message.topic, bytes(message.payload), datetime.now(UTC))))

    def _run(self) -> None:
        next_tick = 0.0
        while not (self._stop.is_set() and self._work.empty()):
            try:
                kind, item = self._work.get(timeout=self.settings.tick_s / 2)
            except queue.Empty:
                kind, item = "", None
            try:
                if kind == "message":
                    self._handle(*item)
                elif kind == "call":
                    item(self.engine)
                if monotonic() >= next_tick:
                    next_tick = monotonic() + self.settings.tick_s
                    self.engine.tick(datetime.now(UTC))
            except Exception:  # the worker's top level: log and keep going
                logger.exception("alert worker step failed")
        self.engine.flush()  # what the last readings taught the rules, for the next start

    def _handle(self, topic_text: str, payload: bytes, received: datetime) -> None:
        try:
            topic = parse_topic(topic_text, self._mqtt.root)
            if topic.channel is Channel.TELEMETRY:
                self.engine.telemetry(parse_telemetry(topic, payload, received), received)
            elif topic.channel is Channel.STATUS:
                self.engine.status(topic.site, topic.device, parse_status(topic, payload), received)
        except (TopicError, ProtocolError) as err:
            logger.debug("alerts skipped a message on %s: %s", topic_text, err)


def day_start_in(tz: Any) -> Callable[[datetime], datetime]:
    """A function giving the kitchen's midnight before a moment."""

    def start(now: datetime) -> datetime:
        return datetime.combine(now.astimezone(tz).date(), time(), tzinfo=tz)

    return start
