"""The ingest against real Mosquitto and InfluxDB: the contract, both write APIs, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from canteen.settings import InfluxSettings
from ingest.deadletters import DeadLetterStore
from protocol import epoch_ms, format_ts
from tests.conftest import RunningIngest
from tests.protocol.examples import (
    EXPECTED_STORAGE,
    LAST_WILL_EXAMPLE,
    TELEMETRY_READINGS,
    birth_example,
    telemetry_example,
)
from tests.waiting import wait_until
from timeseries import InfluxQL, quote_ident, quote_literal

Publish = Callable[..., None]


def rows(influxql: InfluxQL, measurement: str, site: str) -> list[dict[str, Any]]:
    query = f"SELECT * FROM {quote_ident(measurement)} WHERE site = {quote_literal(site)}"  # noqa: S608
    return influxql.rows(query)


def test_every_protocol_example_lands_with_the_mapped_measurement_tags_and_fields(
    start_ingest: Callable[..., RunningIngest],
    v1_influx: InfluxSettings,
    influxql: InfluxQL,
    publisher: Publish,
) -> None:
    start_ingest(v1_influx)
    sent = datetime.now(UTC).replace(microsecond=120000)
    publisher("canteen/site-contract/pi-1/telemetry", telemetry_example(sent))
    publisher("canteen/site-contract/pi-1/status", birth_example(sent))
    publisher("canteen/site-contract/pi-2/status", LAST_WILL_EXAMPLE)

    for (before, body), (measurement, tags, fields) in zip(
        TELEMETRY_READINGS, EXPECTED_STORAGE, strict=True
    ):
        found = wait_until(lambda m=measurement: rows(influxql, m, "site-contract"), timeout=15)
        [row] = found
        assert row["time"] == epoch_ms(sent - timedelta(seconds=before))
        assert (row["site"], row["device"], row["sensor"]) == (
            "site-contract",
            "pi-1",
            body["sensor"],
        )
        for key, value in {**tags, **fields}.items():
            assert row[key] == value, (measurement, key)

    status = wait_until(
        lambda: (
            len(rows(influxql, "device_status", "site-contract")) == 2
            and rows(influxql, "device_status", "site-contract")
        )
    )
    by_device = {row["device"]: row for row in status}
    assert by_device["pi-1"]["online"] is True
    assert by_device["pi-1"]["agent"] == "1.4.0"
    assert by_device["pi-1"]["backlog"] == 0
    assert by_device["pi-1"]["time"] == epoch_ms(sent)
    assert by_device["pi-2"]["online"] is False


def test_the_v2_write_path_lands_through_the_compatibility_proxy(
    start_ingest: Callable[..., RunningIngest],
    influx_v2_proxy: Any,
    influx_database: str,
    influxdb: Any,
    publisher: Publish,
) -> None:
    through_proxy = InfluxSettings(
        url=influx_v2_proxy.url, database=influx_database, token=SecretStr("test-token")
    )
    start_ingest(through_proxy)
    sent = datetime.now(UTC)
    publisher("canteen/site-v2/pi-1/telemetry", telemetry_example(sent))
    direct = InfluxQL(InfluxSettings(url=influxdb.url, database=influx_database))
    found = wait_until(lambda: rows(direct, "temperature", "site-v2"), timeout=15)
    assert found[0]["celsius"] == 3.62
    assert influx_v2_proxy.writes_forwarded >= 1


def test_the_issue_example_writes_fridge_2_rejects_fridge_1_and_keeps_running(
    start_ingest: Callable[..., RunningIngest],
    v1_influx: InfluxSettings,
    influxql: InfluxQL,
    publisher: Publish,
) -> None:
    ingest = start_ingest(v1_influx)
    now = format_ts(datetime.now(UTC))
    payload = {
        "v": 1,
        "seq": 7,
        "sent": now,
        "readings": [
            {"kind": "temperature", "sensor": "fridge-1", "ts": now, "celsius": "hot"},
            {"kind": "temperature", "sensor": "fridge-2", "ts": now, "celsius": 4.5},
        ],
    }
    publisher("canteen/site-a/pi-1/telemetry", json.dumps(payload).encode())
    publisher("canteen/site-a/pi-1/telemetry", b"\xff not even json")
    found = wait_until(lambda: rows(influxql, "temperature", "site-a"), timeout=15)
    assert [(r["sensor"], r["celsius"]) for r in found] == [("fridge-2", 4.5)]

    store = DeadLetterStore(ingest.settings.hub_db)
    letters = wait_until(lambda: len(store.latest()) == 2 and store.latest())
    reasons = sorted(letter.reason for letter in letters)
    assert "JSON" in reasons[0]
    assert reasons[1].startswith("reading 0: temperature.celsius")

    later = datetime.now(UTC)
    publisher("canteen/site-a/pi-1/telemetry", telemetry_example(later, seq=8))
    assert wait_until(lambda: len(rows(influxql, "temperature", "site-a")) == 2, timeout=15)
    assert ingest.thread.is_alive()


def test_a_replayed_message_is_stored_once(
    start_ingest: Callable[..., RunningIngest],
    v1_influx: InfluxSettings,
    influxql: InfluxQL,
    publisher: Publish,
) -> None:
    start_ingest(v1_influx)
    sent = datetime.now(UTC)
    for _ in range(3):
        publisher("canteen/site-replay/pi-1/telemetry", telemetry_example(sent))
    publisher(
        "canteen/site-replay/pi-1/telemetry",
        telemetry_example(sent + timedelta(seconds=30), seq=1043),
    )
    assert wait_until(lambda: len(rows(influxql, "temperature", "site-replay")) == 2, timeout=15)
    assert len(rows(influxql, "waste", "site-replay")) == 2
