"""Fuzz every JSON API operation of the real dashboard from its OpenAPI schema (schemathesis).

The dashboard runs as in production (uvicorn, its lifespan connected to the session's
Mosquitto and InfluxDB, its state folder shared with a real ingest that has dead letters
to show), signed in as staff, so generated requests reach the handlers rather than the
sign-in check. Whatever schemathesis sends, no answer may be a 5xx.

Left out: `GET /api/sites/{site}/stream`, the server-sent event stream. It never ends by
design (an event every 15 s while the screen is connected), so a generated request would
hang until the deadline instead of returning a response to check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.openapi.loaders import from_url
from schemathesis.schemas import BaseSchema

from canteen.settings import InfluxSettings
from ingest.deadletters import DeadLetterStore
from protocol import format_ts
from tests.conftest import RunningIngest
from tests.dashboard.conftest import RunningDashboard
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

COOKIES: dict[str, str] = {}


@pytest.fixture
def dashboard_schema(
    start_ingest: Callable[..., RunningIngest],
    start_dashboard: Callable[..., RunningDashboard],
    v1_influx: InfluxSettings,
    influx_database: str,
    publisher: Callable[..., None],
) -> BaseSchema:
    """The running dashboard's schema, with a dead letter and a reading behind it."""
    ingest = start_ingest(v1_influx)
    now = format_ts(datetime.now(UTC))
    good = {"kind": "temperature", "sensor": "fridge-1", "ts": now, "celsius": 4.0}
    document = {"v": 1, "seq": 1, "sent": now, "readings": [good]}
    publisher("canteen/site-a/pi-1/telemetry", json.dumps(document).encode())
    publisher("canteen/site-a/pi-1/telemetry", b"{not json")
    store = DeadLetterStore(ingest.settings.hub_db)
    wait_until(lambda: store.count() == 1, timeout=15, message="the dead letter")
    store.close()
    dashboard = start_dashboard(influx_database, state_dir=ingest.settings.state_dir)
    COOKIES.clear()
    COOKIES.update({cookie.name: cookie.value or "" for cookie in dashboard.login("staff").jar})
    return from_url(f"{dashboard.url}/openapi.json")


SKIPPED = {("GET", "/api/sites/{site}/stream")}  # never ends: see the module's docstring


def test_no_generated_request_gets_a_server_error(dashboard_schema: BaseSchema) -> None:
    fuzzed, failures = [], []
    for result in dashboard_schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        fuzzed.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=5000,
            database=None,
            derandomize=True,  # the same requests every run: a failure is never luck
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error], cookies=COOKIES, timeout=10)

        try:  # every operation is fuzzed, so one run lists every server error
            no_server_error()
        except Exception as err:
            failures.append(f"{fuzzed[-1]}: {str(err).strip()[:1500]}")
    assert "GET /api/deadletters" in fuzzed and "GET /api/health" in fuzzed, fuzzed
    assert not failures, "\n\n".join(failures)
