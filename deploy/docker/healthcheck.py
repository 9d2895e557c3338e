"""Tell Docker whether a hub container is healthy: `python healthcheck.py ingest|dashboard`.

- ingest: the broker accepts connections, InfluxDB answers `/ping`, and the ingest has
  opened its SQLite state (it does once InfluxDB has answered it).
- dashboard: `GET /api/health` answers 200 (pass another URL as the second argument).

Exit status 0 when healthy, 1 when not, with the reason on one line (`docker inspect`
shows it). Settings come from the same CANTEEN_* variables the processes read.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from canteen.settings import SettingsError, influx_from_env, mqtt_from_env

TIMEOUT_S = 5.0
DASHBOARD_HEALTH = "http://127.0.0.1:8080/api/health"


def _http_status(url: str) -> int:
    request = urllib.request.Request(url, method="GET")  # noqa: S310 (our own http URLs)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code


def ingest_problem(env: Mapping[str, str]) -> str | None:
    """What keeps the ingest from working, or None."""
    mqtt = mqtt_from_env(env)
    try:
        socket.create_connection((mqtt.host, mqtt.port), timeout=TIMEOUT_S).close()
    except OSError as err:
        return f"broker {mqtt.url} unreachable: {err}"
    influx = influx_from_env(env)
    try:
        status = _http_status(f"{influx.url.rstrip('/')}/ping")
    except (OSError, urllib.error.URLError) as err:
        return f"InfluxDB {influx.url} unreachable: {err}"
    if status != 204:
        return f"InfluxDB {influx.url}/ping answered {status}"
    state = Path(env.get("CANTEEN_STATE_DIR", "var")) / "hub.sqlite3"
    if not state.exists():
        return f"{state} not opened yet (still waiting for InfluxDB?)"
    return None


def dashboard_problem(url: str = DASHBOARD_HEALTH) -> str | None:
    """What keeps the dashboard from serving, or None."""
    try:
        status = _http_status(url)
    except (OSError, urllib.error.URLError) as err:
        return f"{url} unreachable: {err}"
    return None if status == 200 else f"{url} answered {status}"


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Check the named process; return the exit status."""
    if len(argv) < 1 or argv[0] not in ("ingest", "dashboard"):
        print("usage: healthcheck.py ingest|dashboard [HEALTH_URL]")
        return 2
    try:
        if argv[0] == "ingest":
            problem = ingest_problem(env)
        else:
            problem = dashboard_problem(*argv[1:2])
    except SettingsError as err:
        problem = str(err)
    print(f"unhealthy: {problem}" if problem else "healthy")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
