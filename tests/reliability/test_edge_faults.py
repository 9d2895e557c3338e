"""Scenarios 4 and 6: the edge agent killed with SIGKILL; edge clocks minutes off the hub's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from canteen.local_services import LocalMosquitto
from canteen.settings import InfluxSettings
from tests.reliability.checker import Key, check, dead_lettered, stored
from tests.reliability.harness import EdgeDevice, EdgeProcess, Hub, IngestProcess, edge_config
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_4_edge_agent_sigkilled_twice_mid_stream_loses_nothing_it_kept(
    tmp_path: Path,
    broker: LocalMosquitto,
    v1_influx: InfluxSettings,
    ingests: Callable[..., IngestProcess],
) -> None:
    site = "rel-edge-kill"
    hub = Hub(broker.host, broker.port, v1_influx)
    ingests(broker.url, v1_influx).start()
    hub.wait_live(site)
    agent = EdgeProcess(tmp_path / "edge", site, "cold-room", broker.url)
    try:
        for _ in (1, 2):
            agent.start(per_poll=5, limit=1_000_000)  # 100 readings/s until killed
            wait_until(lambda: agent.produced_in_run(agent.run) >= 300, timeout=30)
            agent.kill()
        agent.start(per_poll=5, limit=300)
        wait_until(
            lambda: agent.produced_in_run(3) >= 300 and agent.backlog() == 0,
            timeout=60,
            message="the last run's readings all sent",
        )
        agent.stop()
    finally:
        agent.close()
    produced, final_polls = agent.produced()
    hub.wait_count(site, len(produced), timeout=30, quiet_s=10)
    found = stored(hub.influxql, site)
    result = check("4 edge SIGKILL x2", produced, found, unkept=final_polls)
    assert result.ok, result.summary()


OFFSETS = {
    "clock-behind": timedelta(minutes=-4),
    "clock-ahead": timedelta(minutes=4),
    "clock-far-ahead": timedelta(minutes=7),  # beyond the hub's 5-minute future limit
}


def test_6_edge_clocks_minutes_off_are_stored_as_stamped_or_rejected_beyond_five_minutes(
    tmp_path: Path,
    broker: LocalMosquitto,
    v1_influx: InfluxSettings,
    ingests: Callable[..., IngestProcess],
    edges: Callable[..., EdgeDevice],
) -> None:
    site = "rel-clocks"
    hub = Hub(broker.host, broker.port, v1_influx)
    ingest = ingests(broker.url, v1_influx).start()
    hub.wait_live(site)
    devices = {
        name: edges(
            edge_config(site, name, broker.url, tmp_path / name, replay_messages_per_s=100),
            per_poll=2,
            limit=300,
            clock_offset=offset,
        ).start()
        for name, offset in OFFSETS.items()
    }
    for device in devices.values():
        wait_until(device.drained, timeout=60, message="every device's outbox empty")
    accepted = sum(len(d.produced) for n, d in devices.items() if n != "clock-far-ahead")
    hub.wait_count(site, accepted, timeout=30, quiet_s=10)
    far = devices["clock-far-ahead"].produced
    wait_until(
        lambda: len(dead_lettered(ingest.hub_db)) >= len(far),
        timeout=30,
        message="the far-ahead readings dead-lettered",
    )
    found, rejected = stored(hub.influxql, site), dead_lettered(ingest.hub_db)
    assert {key[1] for key in found} <= set(OFFSETS), "a device that never sent"
    failures = []
    for name, offset in OFFSETS.items():
        mine: dict[Key, list[float | None]] = {k: v for k, v in found.items() if k[1] == name}
        label = f"6 clock {offset.total_seconds() / 60:+.0f} min"
        result = check(label, devices[name].produced, mine, rejected=rejected)
        if not result.ok:
            failures.append(result.summary())
        if name == "clock-far-ahead":
            assert result.rejected == set(far), "beyond 5 min: every reading rejected"
        else:
            assert not result.rejected, "within 5 min: nothing rejected"
    assert not failures, failures
