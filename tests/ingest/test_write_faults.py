"""Ingest durability against a real InfluxDB: what a failed write does to the MQTT ack.

- 503 and connection refused: retried with backoff, the message not acknowledged
  until its points are stored;
- 400 from the server: the line goes to the dead-letter store with the server's own
  message, the rest of the message lands, and the message is acknowledged.
The ingest's real parts (MessageProcessor, SureWriter, V1LineWriter, DeadLetterStore)
run in the test; only the broker is left out, replaced by an ack that records.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3

from canteen.local_services import free_port
from canteen.settings import InfluxSettings
from ingest.deadletters import DeadLetterStore
from ingest.pipeline import Inbound, MessageProcessor
from ingest.service import Ingest
from ingest.writer import SureWriter
from protocol import DoorReading, TemperatureReading, encode_telemetry
from tests.ingest.sources import ListSource
from timeseries import InfluxQL, V1LineWriter

pytestmark = pytest.mark.integration
TOPIC = "canteen/site-faults/pi-1/telemetry"


class FaultyInflux:
    """An HTTP front for InfluxDB that answers the first `failures` writes with 503."""

    def __init__(self, upstream: str, failures: int = 0, port: int = 0) -> None:
        self.upstream, self.failures, self.refused = upstream.rstrip("/"), failures, 0
        self._http = urllib3.PoolManager()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultyInflux:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if front.failures > 0:
                    front.failures -= 1
                    front.refused += 1
                    status, data = 503, b'{"error":"shard is busy (test)"}'
                else:
                    answer = front._http.request(
                        "POST", front.upstream + self.path, body=body, headers=dict(self.headers)
                    )
                    status, data = answer.status, answer.data
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@pytest.fixture
def fronts() -> Iterator[list[FaultyInflux]]:
    made: list[FaultyInflux] = []
    yield made
    for front in made:
        front.close()


def message(now: datetime, mid: int = 7) -> Inbound:
    readings = [
        TemperatureReading(sensor="fridge-1", ts=now, celsius=3.5),
        DoorReading(sensor="fridge-1", ts=now, open=False),
    ]
    return Inbound(TOPIC, encode_telemetry(mid, now, readings), now, mid=mid, qos=1)


class Run:
    """One ingest step over one message, recording acks and what each retry saw."""

    def __init__(self, tmp_path: Path, influx: InfluxSettings) -> None:
        self.acked: list[int] = []
        self.acked_at_retry: list[list[int]] = []
        self.errors: list[str] = []
        self.hooks: list[Any] = []
        self.store = DeadLetterStore(tmp_path / "hub.sqlite3")
        self.dead_at_ack: list[int] = []
        self.inbox = ListSource()
        writer = SureWriter(
            V1LineWriter(influx), threading.Event(), backoff_s=(0.05, 0.2), on_retry=self._retry
        )
        self.ingest = Ingest(self.inbox, MessageProcessor(), writer, self.store, self._ack)

    def _retry(self, err: Exception) -> None:
        self.errors.append(str(err))
        self.acked_at_retry.append(list(self.acked))
        for hook in self.hooks:
            hook(len(self.errors))

    def _ack(self, batch: Sequence[Inbound]) -> None:
        for inbound in batch:
            self.dead_at_ack.append(self.store.count())
            self.acked.append(inbound.mid)

    def step(self, inbound: Inbound) -> None:
        self.inbox.put(inbound)
        assert self.ingest.step(timeout=1) == 1


def stored(influx: InfluxSettings) -> dict[str, int]:
    """How many points of device pi-1 each measurement holds."""
    query = InfluxQL(influx)
    where = "WHERE \"site\" = 'site-faults' AND \"device\" = 'pi-1'"
    return {m: len(query.rows(f'SELECT * FROM "{m}" {where}')) for m in ("temperature", "door")}  # noqa: S608 (InfluxQL, fixed names)


def test_a_write_answered_503_is_retried_and_acknowledged_only_once_stored(
    tmp_path: Path, influxdb: Any, v1_influx: InfluxSettings, fronts: list[FaultyInflux]
) -> None:
    front = FaultyInflux(influxdb.url, failures=3).start()
    fronts.append(front)
    run = Run(tmp_path, v1_influx.model_copy(update={"url": front.url}))
    now = datetime.now(UTC)
    run.step(message(now))
    assert front.refused == 3
    assert len(run.errors) == 3 and all("503" in e for e in run.errors), run.errors
    assert run.acked_at_retry == [[], [], []], "acknowledged before the write landed"
    assert run.acked == [7]
    assert stored(v1_influx) == {"temperature": 1, "door": 1}
    assert run.store.count() == 0


def test_a_write_refused_by_a_closed_port_is_retried_until_influxdb_is_back(
    tmp_path: Path, influxdb: Any, v1_influx: InfluxSettings, fronts: list[FaultyInflux]
) -> None:
    port = free_port()
    run = Run(tmp_path, v1_influx.model_copy(update={"url": f"http://127.0.0.1:{port}"}))

    def come_back(failures: int) -> None:  # InfluxDB starts after the third refusal
        if failures == 3:
            fronts.append(FaultyInflux(influxdb.url, port=port).start())

    run.hooks.append(come_back)
    now = datetime.now(UTC)
    run.step(message(now))
    assert len(run.errors) == 3 and all("refused" in e.lower() for e in run.errors), run.errors
    assert run.acked_at_retry == [[], [], []], "acknowledged before the write landed"
    assert run.acked == [7]
    assert stored(v1_influx) == {"temperature": 1, "door": 1}


def test_a_line_influxdb_rejects_with_400_is_dead_lettered_with_its_message_then_acked(
    tmp_path: Path, v1_influx: InfluxSettings
) -> None:
    now = datetime.now(UTC)
    # A string `celsius` in the same shard makes InfluxDB refuse the float: a real 400.
    conflict = 'temperature,device=pi-0,sensor=probe,site=site-faults celsius="warm"'
    V1LineWriter(v1_influx).write([f"{conflict} {int(now.timestamp() * 1000)}"])
    run = Run(tmp_path, v1_influx)
    run.step(message(now))
    assert run.errors == [], "a 400 is not retried"
    assert run.acked == [7]
    assert run.dead_at_ack == [1], "the dead letter is stored before the ack"
    [letter] = run.store.latest()
    assert "field type conflict" in letter.reason, letter.reason
    assert letter.reason.startswith("InfluxDB refused: ")
    assert b"celsius=3.5" in letter.payload
    assert stored(v1_influx) == {"temperature": 0, "door": 1}
