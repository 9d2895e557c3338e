"""Scenarios 1 and 5: the broker killed with SIGKILL mid-stream; the edge cut off from it.

Mosquitto acknowledges (PUBACK) a QoS 1 message once it holds it in memory, and writes
its memory to `mosquitto.db` only every `autosave_interval` (30 s, broker/conf.d) and at
a clean shutdown. So after a SIGKILL what the broker had acknowledged but neither saved
nor passed on to the ingest is gone from the broker. The edge keeps acknowledged messages
for `KEEP_ACKED_S` (120 s) and sends them again after it lost the broker: scenario 1b
shows nothing is lost (it lost 310 to 365 of 1,000 before the edge kept them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from canteen.local_services import LocalMosquitto
from canteen.settings import InfluxSettings
from edge.agent import utc_now
from protocol import epoch_ms
from tests.reliability.checker import check, stored
from tests.reliability.conftest import save_broker
from tests.reliability.harness import EdgeDevice, Hub, IngestProcess, edge_config
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def _live_hub(
    broker: LocalMosquitto,
    influx: InfluxSettings,
    ingests: Callable[..., IngestProcess],
    site: str,
) -> tuple[Hub, IngestProcess]:
    hub = Hub(broker.host, broker.port, influx)
    ingest = ingests(broker.url, influx).start()
    hub.wait_live(site)
    # In production the broker has autosaved the ingest's session (its subscriptions)
    # long before any crash; a fresh test broker has not, so save it once now.
    save_broker(broker)
    return hub, ingest


def test_1_broker_sigkilled_mid_stream_with_the_ingest_live_loses_nothing(
    tmp_path: Path,
    broker: LocalMosquitto,
    v1_influx: InfluxSettings,
    ingests: Callable[..., IngestProcess],
    edges: Callable[..., EdgeDevice],
) -> None:
    site = "rel-broker-kill"
    hub, _ = _live_hub(broker, v1_influx, ingests, site)
    config = edge_config(
        site, "cold-room", broker.url, tmp_path / "edge", replay_messages_per_s=200
    )
    device = edges(config, per_poll=5, limit=1000).start()  # 100 readings/s, one a message
    wait_until(lambda: hub.count(site) >= 300, timeout=30, message="300 readings stored")
    broker.kill()
    at_kill = device.source.count
    wait_until(lambda: device.source.count >= at_kill + 150, timeout=10, message="a backlog")
    broker.start()
    wait_until(device.drained, timeout=60, message="the edge's outbox empty")
    hub.wait_count(site, len(device.produced), timeout=30, quiet_s=10)
    result = check("1 broker SIGKILL, ingest live", device.produced, stored(hub.influxql, site))
    assert result.ok, result.summary()


def test_1b_broker_sigkilled_while_it_holds_the_ingests_queue_loses_nothing_the_edge_kept(
    tmp_path: Path,
    broker: LocalMosquitto,
    v1_influx: InfluxSettings,
    ingests: Callable[..., IngestProcess],
    edges: Callable[..., EdgeDevice],
) -> None:
    """A hub power cut while the ingest is away (restarting, or behind a slow InfluxDB)."""
    site = "rel-broker-kill-queued"
    hub, ingest = _live_hub(broker, v1_influx, ingests, site)
    config = edge_config(
        site, "cold-room", broker.url, tmp_path / "edge", replay_messages_per_s=200
    )
    device = edges(config, per_poll=5, limit=1000).start()
    wait_until(lambda: hub.count(site) >= 200, timeout=30, message="200 readings stored")
    stopped_ms = epoch_ms(utc_now())
    ingest.stop()  # the broker now queues for the ingest's persistent session
    at_stop = device.source.count
    wait_until(lambda: device.source.count >= at_stop + 300, timeout=10, message="300 queued")
    broker.kill()  # the power cut, before the next autosave
    killed_ms = epoch_ms(utc_now())
    broker.start()
    ingest.start()
    wait_until(device.drained, timeout=60, message="the edge's outbox empty")
    hub.wait_count(site, len(device.produced), timeout=30, quiet_s=5)
    result = check("1b broker SIGKILL, ingest away", device.produced, stored(hub.influxql, site))
    taken = sorted(key[3] for key in result.lost)
    if taken:
        result.notes.append(
            f"lost: taken from {(taken[0] - stopped_ms) / 1000:+.2f} s after the ingest's SIGTERM "
            f"to {(killed_ms - taken[-1]) / 1000:.2f} s before the broker's SIGKILL"
        )
    assert result.ok, result.summary()


def test_5_edge_cut_off_builds_a_backlog_of_25000_and_replays_it_in_batches_of_500(
    tmp_path: Path,
    broker: LocalMosquitto,
    v1_influx: InfluxSettings,
    ingests: Callable[..., IngestProcess],
    edges: Callable[..., EdgeDevice],
) -> None:
    site = "rel-backlog"
    hub, _ = _live_hub(broker, v1_influx, ingests, site)
    config = edge_config(site, "cold-room", broker.url, tmp_path / "edge")
    device = edges(config, per_poll=250, limit=25_000)  # 5,000 readings/s
    device.source.enabled.clear()
    device.start()
    wait_until(device.link.is_connected, timeout=15, message="the edge connected")
    broker.stop()  # the kitchen's network is down
    wait_until(lambda: not device.link.is_connected(), timeout=15, message="the edge offline")
    device.source.enabled.set()
    wait_until(lambda: device.source.done, timeout=60, message="25,000 readings taken")
    # The agent commits the source's last poll a moment after the source is done.
    wait_until(
        lambda: device.outbox.backlog() == 25_000,
        timeout=15,
        message="the outbox to hold the whole backlog of 25,000",
    )
    broker.start()
    wait_until(device.drained, timeout=90, message="the backlog replayed")
    hub.wait_count(site, len(device.produced), timeout=60, quiet_s=10)
    result = check("5 backlog of 25,000", device.produced, stored(hub.influxql, site))
    batches = device.link.batch_sizes
    result.notes.append(f"{len(batches)} messages, {batches.count(500)} of 500 readings")
    assert result.ok, result.summary()
    assert batches.count(500) >= 49, f"not replayed in batches of 500: {batches[:20]}"
