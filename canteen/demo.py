"""`canteen demo`: the whole system on one machine, with simulated kitchen devices.

It starts a private Mosquitto and InfluxDB under the state folder (default `var/demo`)
on free loopback ports, seeds the last day of simulated history so curves and totals
have something to show at once, then runs the ingest, the dashboard and simulated
devices, which publish through the real broker. Ctrl-C stops everything it started; the
servers are also tied to this process, so even a killed demo leaves nothing running.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from canteen.local_services import (
    LocalInfluxDB,
    LocalMosquitto,
    LocalService,
    ServiceError,
    check_port_free,
)
from canteen.settings import InfluxSettings, MqttSettings
from protocol.storage import reading_point, to_line

logger = logging.getLogger(__name__)

SEED_HOURS = 24
LIVE_INTERVAL_S = 5.0
"""Seconds between a simulated sensor's readings in the demo, so the screen visibly moves."""


@dataclass(frozen=True)
class DemoOptions:
    """What `canteen demo` was asked for."""

    state_dir: Path = Path("var/demo")
    port: int = 8080
    sites: int = 1
    speed: float = 1.0
    language: str = "en"
    host: str = "127.0.0.1"


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def seed_history(influx: InfluxSettings, sites: list[str], marker: Path) -> int:
    """Write each site's simulated past (up to a day, since the last run) into InfluxDB."""
    from edge.simulation.history import past_readings
    from timeseries import InfluxQL, open_writer

    now = datetime.now(UTC)
    done: dict[str, str] = json.loads(marker.read_text()) if marker.exists() else {}
    InfluxQL(influx).create_database()
    writer = open_writer(influx, "v1")
    written = 0
    try:
        for site in sites:
            start = now - timedelta(hours=SEED_HOURS)
            if site in done:
                start = max(start, datetime.fromisoformat(done[site]))
            lines = [
                to_line(reading_point(site, device, reading))
                for device, reading in past_readings(site, start, now)
            ]
            for first in range(0, len(lines), 5000):
                writer.write(lines[first : first + 5000])
            written += len(lines)
            done[site] = now.isoformat()
    finally:
        writer.close()
    marker.write_text(json.dumps(done))
    return written


def demo_kiosk_token(state_dir: Path, site: str) -> str:
    """A kiosk token for the demo's wall screen; the previous demo's stops working."""
    from dashboard.users import USERS_FILE, UserStore

    now = datetime.now(UTC)
    store = UserStore(state_dir / USERS_FILE)
    try:
        for old in store.kiosks():
            if old.label == "demo" and not old.revoked:
                store.revoke_kiosk(old.id, now)
        return store.add_kiosk(site, "demo", now)[1]
    finally:
        store.close()


def _thread(name: str, target: Callable[[], None], failed: threading.Event) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except Exception:  # a thread's top level: report, and stop the demo
            logger.exception("the %s stopped with an error", name)
            failed.set()

    thread = threading.Thread(target=run, name=f"demo-{name}", daemon=True)
    thread.start()
    return thread


def run_demo(options: DemoOptions, stop: threading.Event) -> None:
    """Run the demo until `stop` is set (Ctrl-C); stop everything it started."""
    from dashboard.server import run_dashboard
    from dashboard.settings import DashboardSettings
    from edge.simulation import run_simulation, sites_for
    from ingest.app import IngestSettings, run_ingest

    check_port_free(options.host, options.port)
    state = options.state_dir.resolve()
    sites = sites_for(options.sites)
    services: list[LocalService] = []
    threads: list[threading.Thread] = []
    try:
        _say(f"starting Mosquitto and InfluxDB (data in {state})")
        broker = LocalMosquitto(state / "mosquitto", die_with_parent=True)
        database = LocalInfluxDB(state / "influxdb", die_with_parent=True)
        for service in (broker, database):
            service.start()
            services.append(service)
        mqtt = MqttSettings.from_url(broker.url)
        influx = InfluxSettings(url=database.url, database="canteen", api="v1")

        _say(f"seeding the last {SEED_HOURS} h of simulated history for {', '.join(sites)}")
        written = seed_history(influx, sites, state / "seeded.json")
        _say(f"{written} readings of history written")

        failed = threading.Event()
        ingest_ready, dashboard_ready = threading.Event(), threading.Event()
        ingest = IngestSettings(mqtt=mqtt, influx=influx, state_dir=state / "hub")
        threads.append(_thread("ingest", lambda: run_ingest(ingest, stop, ingest_ready), failed))
        dashboard = DashboardSettings(
            mqtt=mqtt,
            influx=influx,
            host=options.host,
            port=options.port,
            default_site=sites[0],
            language=options.language,
        )
        threads.append(
            _thread("dashboard", lambda: run_dashboard(dashboard, stop, dashboard_ready), failed)
        )
        if not (ingest_ready.wait(30) and dashboard_ready.wait(30)):
            raise ServiceError("the ingest or the dashboard did not start within 30 s (see above)")
        threads.append(
            _thread(
                "simulation",
                lambda: run_simulation(
                    mqtt,
                    sites,
                    state / "devices",
                    stop,
                    speed=options.speed,
                    interval_s=LIVE_INTERVAL_S,
                ),
                failed,
            )
        )
        shown = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host  # noqa: S104
        token = demo_kiosk_token(dashboard.state_dir, sites[0])
        _say(f"wall screen: http://{shown}:{options.port}/wall/{sites[0]}?kiosk={token}")
        _say(
            f"alerts: on the wall screen and at http://{shown}:{options.port}/alerts/{sites[0]}"
            " (the demo sets no alerts.channels, so no phone is notified)"
        )
        _say(
            "alerts and the HACCP log need a sign-in: "
            f"canteen user add NAME --role manager --state-dir {dashboard.state_dir}"
        )
        _say("simulated devices are publishing; press Ctrl-C to stop everything")
        while not stop.wait(0.5):
            if failed.is_set():
                raise ServiceError("a part of the demo stopped with an error (see above)")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        for started in reversed(services):
            started.stop()
        _say("stopped")
