"""The ingest's broker source: batches leave room in the window; `subscribed` tells the truth."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from canteen.settings import MqttSettings
from ingest.app import IngestSettings, broker_source
from ingest.pipeline import Inbound


def collect_some(collect: Callable[[float], list[Inbound]], timeout: float = 5.0) -> list[Inbound]:
    """The next non-empty batch (the first calls may only connect and subscribe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = collect(0.5)
        if batch:
            return batch
    return []


def test_the_next_batch_arrives_before_the_last_is_acknowledged(
    mosquitto: Any, publisher: Callable[[str, bytes], None], tmp_path: Path
) -> None:
    """With batch_lines as large as the window, a batch still takes only half of it."""
    root = "window-test"
    settings = IngestSettings(
        mqtt=MqttSettings.from_url(mosquitto.url, root=root),
        state_dir=tmp_path,
        client_id="test-batch-window",
        receive_maximum=10,
        batch_lines=10,
        batch_age_s=1.0,
        linger_s=0.5,
    )
    assert settings.batch_messages == 5
    stop = threading.Event()
    source = broker_source(settings, stop)
    try:
        assert source.collect(2.0) == []  # connects and subscribes: nothing queued yet
        assert source.subscribed.is_set()
        for n in range(10):
            publisher(f"{root}/site-w/pi-1/telemetry", f"m{n}".encode())
        first = collect_some(source.collect)
        second = collect_some(source.collect)  # the first is not acknowledged yet
        assert [m.payload for m in first] == [f"m{n}".encode() for n in range(5)]
        assert [m.payload for m in second] == [f"m{n}".encode() for n in range(5, 10)]
        source.ack(first + second)
    finally:
        stop.set()
        source.close()


def test_subscribed_is_cleared_while_the_broker_is_away_and_set_again_after(
    mosquitto_factory: Callable[[], Any], tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    settings = IngestSettings(
        mqtt=MqttSettings.from_url(broker.url), state_dir=tmp_path, client_id="test-away"
    )
    stop = threading.Event()
    source = broker_source(settings, stop)
    try:
        source.collect(1.0)
        assert source.subscribed.is_set()
        broker.stop()
        for _ in range(3):  # the loss is noticed, then reconnecting fails
            source.collect(0.5)
        assert not source.subscribed.is_set(), "subscribed while the broker is down"
        broker.start()
        deadline = time.monotonic() + 15
        while not source.subscribed.is_set() and time.monotonic() < deadline:
            source.collect(0.5)
        assert source.subscribed.is_set()
    finally:
        stop.set()
        source.close()
