"""The ingest's composition root: build every part, run until told to stop."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from canteen.settings import InfluxSettings, MqttSettings
from ingest.deadletters import DeadLetterStore
from ingest.mqtt_session import MqttSession
from ingest.pipeline import MessageProcessor
from ingest.service import Ingest
from ingest.source import BrokerSource
from ingest.writer import SureWriter
from protocol import Channel, subscription
from timeseries import InfluxError, InfluxQL, detect_api, open_writer

logger = logging.getLogger(__name__)


class IngestSettings(BaseModel):
    """Everything the ingest needs to run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt: MqttSettings = Field(MqttSettings(), title="Broker")
    influx: InfluxSettings = Field(InfluxSettings(), title="InfluxDB")
    state_dir: Path = Field(Path("var"), title="Where the hub keeps its SQLite state")
    client_id: str = Field("canteen-ingest", title="MQTT client id (the persistent session)")
    receive_maximum: int = Field(
        5000, ge=1, le=65535, title="Unacknowledged messages the broker may send at once"
    )
    session_expiry_s: int = Field(
        7 * 24 * 3600, ge=0, title="How long the broker keeps the session while we are away"
    )
    batch_lines: int = Field(2000, ge=1, title="Most messages handled in one write")
    batch_bytes: int = Field(
        2 * 1024 * 1024, ge=1, title="Most payload bytes handled in one write (bounds memory)"
    )
    linger_s: float = Field(0.05, ge=0, title="How long to wait to fill a batch")
    batch_age_s: float = Field(
        0.05, gt=0, title="Longest a batch waits to fill (what live readings may be delayed)"
    )
    max_age_days: int = Field(30, ge=1, title="Oldest reading accepted (backlog age)")

    @property
    def batch_messages(self) -> int:
        """Most messages in one batch: `batch_lines`, and at most half the broker's window.

        A batch is acknowledged after its write, and the broker sends no more than
        `receive_maximum` unacknowledged messages: a batch that took the whole window would
        leave nothing to read while it is written, and the next could not be parsed meanwhile.
        """
        return max(1, min(self.batch_lines, self.receive_maximum // 2))

    @property
    def hub_db(self) -> Path:
        """The hub's SQLite database (dead letters, alerts, users)."""
        return self.state_dir / "hub.sqlite3"


def _wait_for_influx(settings: InfluxSettings, stop: threading.Event) -> str | None:
    while not stop.is_set():
        try:
            api = detect_api(settings)
            if api == "v1":
                InfluxQL(settings).create_database()
            return api
        except InfluxError as err:
            logger.error("%s; retrying in 5 s", err)
            stop.wait(5)
    return None


def _signal_when_subscribed(
    source: BrokerSource, stop: threading.Event, ready: threading.Event
) -> None:
    while not stop.is_set():
        if source.subscribed.wait(0.1):
            ready.set()
            return


def _utc_now() -> datetime:
    return datetime.now(UTC)


def broker_source(settings: IngestSettings, stop: threading.Event) -> BrokerSource:
    """The ingest's persistent session on the broker, read in batches."""
    mqtt = settings.mqtt
    return BrokerSource(
        MqttSession(
            mqtt,
            settings.client_id,
            settings.receive_maximum,
            settings.session_expiry_s,
            _utc_now,
        ),
        [subscription(Channel.TELEMETRY, mqtt.root), subscription(Channel.STATUS, mqtt.root)],
        stop,
        max_messages=settings.batch_messages,
        max_bytes=settings.batch_bytes,
        linger_s=settings.linger_s,
        max_age_s=settings.batch_age_s,
        broker_url=mqtt.url(),
    )


def run_ingest(
    settings: IngestSettings, stop: threading.Event, ready: threading.Event | None = None
) -> None:
    """Run the ingest until `stop` is set; set `ready` once it is subscribed."""
    api = _wait_for_influx(settings.influx, stop)
    if api is None:
        return
    writer = open_writer(settings.influx, "v1" if api == "v1" else "v2")
    dead_letters = DeadLetterStore(settings.hub_db)
    source = broker_source(settings, stop)
    ingest = Ingest(
        source,
        MessageProcessor(settings.mqtt.root, timedelta(days=settings.max_age_days)),
        SureWriter(writer, stop),
        dead_letters,
        source.ack,
    )
    if ready is not None:
        threading.Thread(
            target=_signal_when_subscribed, args=(source, stop, ready), daemon=True
        ).start()
    try:
        ingest.run(stop)
    finally:
        source.close()
        writer.close()
        dead_letters.close()
        logger.info("ingest stopped: %s", ingest.counters)
