"""Scenarios 2 and 3: InfluxDB stopped mid-stream; the ingest killed with SIGKILL mid-stream."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from canteen.local_services import LocalInfluxDB, LocalMosquitto
from canteen.settings import InfluxSettings
from tests.reliability.checker import check, stored
from tests.reliability.conftest import database_on, save_broker
from tests.reliability.harness import EdgeDevice, Hub, IngestProcess, edge_config
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0
"""InfluxDB's outage: it models minutes (the ingest's backoff tops out at 10 s, so
each extra minute is only more of the same retries; the broker's queue is what grows)."""
RSS_GROWTH_LIMIT_MB = 40.0


def test_2_influxdb_stopped_mid_stream_loses_nothing_and_the_ingest_memory_stays_flat(
    tmp_path: Path,
    broker: LocalMosquitto,
    private_influx: LocalInfluxDB,
    ingests: Callable[..., IngestProcess],
    edges: Callable[..., EdgeDevice],
) -> None:
    site = "rel-influx-down"
    influx = database_on(private_influx, "canteen")
    hub = Hub(broker.host, broker.port, influx)
    ingest = ingests(broker.url, influx).start()  # the production window: receive_maximum 1000
    hub.wait_live(site)
    save_broker(broker)
    config = edge_config(
        site, "cold-room", broker.url, tmp_path / "edge", replay_messages_per_s=1000
    )
    # Live traffic, one reading a message: the agent's two fsyncs a message (pack, ack)
    # hold it near 100 messages/s here, so the outage queues several thousand messages at the
    # broker, three times the ingest's in-flight window.
    device = edges(config, per_poll=10, limit=5000).start()
    wait_until(lambda: hub.count(site) >= 800, timeout=30, message="800 readings stored")
    rss_before = ingest.rss_mb()
    private_influx.stop()
    at_stop = device.source.count
    end, rss_peak = time.monotonic() + OUTAGE_S, rss_before
    while time.monotonic() < end:  # the outage's length, sampling the ingest's memory
        rss_peak = max(rss_peak, ingest.rss_mb())
        time.sleep(0.5)
    during = device.source.count - at_stop
    rss_end = ingest.rss_mb()
    private_influx.start()
    wait_until(device.drained, timeout=60, message="the edge's outbox empty")
    hub.wait_count(site, len(device.produced), timeout=90, quiet_s=30)
    result = check("2 InfluxDB down 30 s", device.produced, stored(hub.influxql, site))
    messages = device.link.batch_sizes
    result.notes.append(
        f"{during} readings during the outage in {len(messages)} messages in all "
        f"(largest {max(messages)} readings); ingest RSS {rss_before:.1f} MB before, "
        f"peak {rss_peak:.1f} MB, {rss_end:.1f} MB at the outage's end, "
        f"{ingest.rss_mb():.1f} MB after catching up"
    )
    assert result.ok, result.summary()
    assert rss_peak - rss_before < RSS_GROWTH_LIMIT_MB, result.summary()


def test_3_ingest_sigkilled_twice_mid_stream_loses_nothing(
    tmp_path: Path,
    broker: LocalMosquitto,
    v1_influx: InfluxSettings,
    ingests: Callable[..., IngestProcess],
    edges: Callable[..., EdgeDevice],
) -> None:
    site = "rel-ingest-kill"
    hub = Hub(broker.host, broker.port, v1_influx)
    ingest = ingests(broker.url, v1_influx).start()
    hub.wait_live(site)
    config = edge_config(
        site, "cold-room", broker.url, tmp_path / "edge", replay_messages_per_s=200
    )
    device = edges(config, per_poll=5, limit=1000).start()  # 100 readings/s
    wait_until(lambda: hub.count(site) >= 250, timeout=30, message="250 readings stored")
    ingest.kill()  # one: in the live stream
    at_kill = device.source.count
    wait_until(lambda: device.source.count >= at_kill + 200, timeout=10, message="200 queued")
    ingest.start()
    stored_then = hub.count(site)
    wait_until(lambda: hub.count(site) > stored_then, timeout=30, message="catching up")
    ingest.kill()  # two: while it catches up with the broker's queue
    ingest.start()
    wait_until(device.drained, timeout=60, message="the edge's outbox empty")
    hub.wait_count(site, len(device.produced), timeout=30, quiet_s=10)
    result = check("3 ingest SIGKILL x2", device.produced, stored(hub.influxql, site))
    assert result.ok, result.summary()
