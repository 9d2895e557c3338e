"""The dead-letter page and API read what the real ingest rejected, read-only and paged."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from canteen.settings import InfluxSettings
from dashboard.deadletter_routes import preview
from ingest.deadletters import DeadLetterReader, DeadLetterStore, reason_kind
from ingest.pipeline import DeadLetter
from protocol import format_ts
from tests.conftest import RunningIngest
from tests.dashboard.conftest import RunningDashboard
from tests.waiting import wait_until

Publish = Callable[..., None]
SITE = "site-dead"


@pytest.mark.integration
def test_the_page_lists_what_the_ingest_rejected_with_its_reason(
    start_ingest: Callable[..., RunningIngest],
    start_dashboard: Callable[..., RunningDashboard],
    v1_influx: InfluxSettings,
    influx_database: str,
    publisher: Publish,
) -> None:
    ingest = start_ingest(v1_influx)
    dashboard = start_dashboard(influx_database, state_dir=ingest.settings.state_dir)
    client = dashboard.client("manager")
    empty = client.get("/api/health").json()["dead_letters"]

    now = format_ts(datetime.now(UTC))
    hot = {"kind": "temperature", "sensor": "fridge-1", "ts": now, "celsius": "hot"}
    publisher(
        f"canteen/{SITE}/pi-1/telemetry",
        json.dumps({"v": 1, "seq": 1, "sent": now, "readings": [hot]}).encode(),
    )
    publisher(f"canteen/{SITE}/pi-1/telemetry", b"<script>alert(1)</script>\xff")
    publisher(f"canteen/{SITE}/pi-2/telemetry", b'{"v": 2, "note": "\\u202eevil"}')
    store = DeadLetterStore(ingest.settings.hub_db)
    wait_until(lambda: store.count() == 3, timeout=15, message="three dead letters")
    store.close()

    listing = client.get("/api/deadletters").json()
    assert listing["total"] == 3 and listing["last_24h"] == 3
    newest, middle, oldest = listing["items"]
    assert newest["id"] > middle["id"] > oldest["id"]
    assert newest["topic"] == f"canteen/{SITE}/pi-2/telemetry" and "v:" in newest["reason"]
    assert "\\u202e" in newest["payload_preview"] and "\u202e" not in newest["payload_preview"]
    assert "JSON" in middle["reason"]
    assert oldest["reason"].startswith("reading 0: temperature.celsius")
    assert oldest["reading_index"] == 0
    assert json.loads(oldest["payload_preview"])["celsius"] == "hot"
    kinds = {row["reason"]: row["count"] for row in listing["by_reason"]}
    assert kinds == {"temperature.celsius": 1, "payload is not valid JSON": 1, "v": 1}

    page = client.get("/deadletters")
    assert page.status_code == 200
    assert "reading 0: temperature.celsius" in page.text
    assert f"canteen/{SITE}/pi-1/telemetry" in page.text
    assert "<script>alert(1)</script>" not in page.text  # escaped, never run
    assert "&lt;script&gt;" in page.text

    first = client.get("/api/deadletters", params={"limit": 2}).json()
    assert [item["id"] for item in first["items"]] == [newest["id"], middle["id"]]
    rest = client.get(
        "/api/deadletters", params={"limit": 2, "before": first["next_before"]}
    ).json()
    assert [item["id"] for item in rest["items"]] == [oldest["id"]]
    assert rest["next_before"] is None
    older = client.get("/deadletters", params={"limit": 2})
    assert f"before={first['next_before']}" in older.text

    health = client.get("/api/health").json()["dead_letters"]
    assert health == {"total": empty["total"] + 3, "last_24h": empty["last_24h"] + 3}
    assert client.get("/api/deadletters", params={"limit": 0}).status_code == 422
    assert ingest.thread.is_alive()


@pytest.mark.integration
def test_without_an_ingest_the_page_says_nothing_was_rejected(
    start_dashboard: Callable[..., RunningDashboard], influx_database: str, tmp_path: Path
) -> None:
    dashboard = start_dashboard(influx_database, state_dir=tmp_path / "fresh")
    client = dashboard.client("manager")
    assert client.get("/api/deadletters").json()["items"] == []
    assert "Nothing rejected" in client.get("/deadletters").text
    assert client.get("/api/health").json()["dead_letters"] == {"total": 0, "last_24h": 0}
    assert not (tmp_path / "fresh" / "hub.sqlite3").exists()  # reading created nothing


def test_the_reader_never_writes_and_does_not_block_the_ingest(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    store = DeadLetterStore(path)
    when = datetime.now(UTC)
    store.add([DeadLetter(when, "canteen/a/b/telemetry", "reading 1: door.open: bad", b"{}", 1)])
    reader = DeadLetterReader(path)
    assert [letter.reason for letter in reader.page()] == ["reading 1: door.open: bad"]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db = reader._connect()
        assert db is not None
        db.execute("DELETE FROM dead_letters")
    # The writer still writes while a reader is open.
    store.add([DeadLetter(when, "canteen/a/b/telemetry", "payload is not valid JSON: x", b"x")])
    counts = reader.counts(when)
    assert (counts.total, counts.last_24h) == (2, 2)
    assert counts.by_reason == [("door.open", 1), ("payload is not valid JSON", 1)]
    store.close()


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("reading 3: temperature.celsius: Input should be a finite number", "temperature.celsius"),
        ("payload is not valid JSON: Expecting value: line 1", "payload is not valid JSON"),
        ("unknown kind 'x' (known: temperature, door)", "unknown kind 'x'"),
        ("InfluxDB refused: partial write: time outside range", "InfluxDB refused"),
    ],
)
def test_reasons_are_counted_by_their_kind(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def test_the_preview_shows_invisible_and_reordering_characters() -> None:
    assert preview(b"a\x00b\xe2\x80\xaec\n") == "a\\u0000b\\u202ec\n"
    assert preview(b"x" * 1000, chars=10) == "x" * 10 + "…"
    assert preview(b"\xff") == "\ufffd"
