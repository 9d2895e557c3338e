"""Wall screen: time to first full paint, bytes and script time per live update, memory.

    python bench/wall_screen.py            # 3 runs of 60 s of live updates
    python bench/wall_screen.py --quick    # 1 run of 20 s

A private Mosquitto and InfluxDB, the real dashboard (`canteen dashboard`, its own
process) and a publisher playing a busy kitchen: 8 cold units, a door, two waste bins and
the dining-room counter, about 10 messages/s. Debian's Chromium (headless, driven by
Playwright) opens the wall screen through a kiosk link at 1920x1080 and is measured by the
page's own performance entries: first contentful paint, the snapshot drawn (every tile,
the dining room, waste, devices: the "full paint"), and each pushed update's script time
and size. The dashboard's resident memory comes from /proc at the end of each run.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from canteen.local_services import LocalInfluxDB, LocalMosquitto, free_port  # noqa: E402
from protocol import (  # noqa: E402
    Channel,
    DoorReading,
    OccupancyReading,
    TemperatureReading,
    WasteReading,
    device_topic,
    encode_telemetry,
)

SITE = "bench-wall"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _kitchen(broker: LocalMosquitto, stop: threading.Event, rate: float) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    rng, seq, present = random.Random(7), 0, 40
    while not stop.wait(1 / rate):
        seq += 1
        now = datetime.now(UTC)
        pick = seq % 10
        if pick < 8:
            reading: object = TemperatureReading(
                sensor=f"fridge-{pick + 1}", ts=now, celsius=round(3 + rng.random(), 2)
            )
        elif pick == 8:
            reading = (
                DoorReading(sensor="fridge-1", ts=now, open=rng.random() < 0.3)
                if seq % 20 < 10
                else WasteReading(
                    sensor="bin-plate", ts=now, grams=rng.uniform(50, 600), category="plate"
                )
            )
        else:
            step = rng.randint(0, 3)
            present = max(0, present + step - rng.randint(0, 3))
            reading = OccupancyReading(
                sensor="dining-main", ts=now, entered=step, exited=0, present=present
            )
        device = "cold-room" if pick < 9 else "entrance"
        payload = encode_telemetry(seq, now, [reading])  # type: ignore[list-item]
        client.publish(device_topic(SITE, device, Channel.TELEMETRY), payload, qos=1)
    client.disconnect()
    client.loop_stop()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_dashboard(work: Path, broker: LocalMosquitto, influx: LocalInfluxDB) -> tuple:
    env = {
        **os.environ,
        "CANTEEN_MQTT_URL": broker.url,
        "CANTEEN_INFLUX_URL": influx.url,
        "CANTEEN_STATE_DIR": str(work / "hub"),
        "CANTEEN_SITE": SITE,
        "TZ": "UTC",
        "PYTHONPATH": str(ROOT),
    }
    canteen = [sys.executable, "-m", "canteen.cli"]
    port = free_port()
    env["CANTEEN_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    url = (
        subprocess.run(
            [*canteen, "kiosk-token", SITE, "--label", "bench"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    dashboard = subprocess.Popen(
        [*canteen, "dashboard", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    return dashboard, url


def _wait_for_port(url: str, timeout: float) -> None:
    port = int(url.split(":")[2].split("/")[0])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the dashboard did not listen on port {port} within {timeout:.0f} s")


def one_run(run: int, seconds: float, rate: float, work: Path) -> dict[str, float]:
    """One private hub and one browser; return the run's figures."""
    broker = LocalMosquitto(work / f"mosquitto-{run}")
    influx = LocalInfluxDB(work / f"influxdb-{run}")
    broker.start()
    influx.start()
    stop = threading.Event()
    dashboard, url = _start_dashboard(work / f"run-{run}", broker, influx)
    kitchen = threading.Thread(target=_kitchen, args=(broker, stop, rate), daemon=True)
    try:
        kitchen.start()
        _wait_for_port(url, 60)
        time.sleep(2)  # a first value of every unit known
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(url)
            page.wait_for_function("performance.getEntriesByName('snapshot').length > 0")
            time.sleep(seconds)
            entries = page.evaluate(
                """() => ({
                  fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
                  snapshot: performance.getEntriesByName('snapshot')[0],
                  updates: performance.getEntriesByName('update').map(
                    (e) => [e.duration, e.detail]),
                  heap: performance.memory ? performance.memory.usedJSHeapSize : null,
                })"""
            )
            browser.close()
        rss = _rss_mb(dashboard.pid)
    finally:
        stop.set()
        kitchen.join(5)
        dashboard.terminate()
        dashboard.wait(15)
        broker.stop()
        influx.stop()
    updates = entries["updates"]
    if not updates:
        raise SystemExit(f"run {run}: the page received no update")
    snapshot = entries["snapshot"]
    return {
        "fcp_ms": entries["fcp"],
        "full_paint_ms": snapshot["startTime"] + snapshot["duration"],
        "snapshot_script_ms": snapshot["duration"],
        "updates": len(updates),
        "update_script_ms_p50": statistics.median(d for d, _ in updates),
        "update_script_ms_p99": sorted(d for d, _ in updates)[int(0.99 * (len(updates) - 1))],
        "update_bytes_p50": statistics.median(b for _, b in updates),
        "update_bytes_max": max(b for _, b in updates),
        "js_heap_mb": (entries["heap"] or 0) / 1e6,
        "dashboard_rss_mb": rss,
    }


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of 20 s")
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second")
    args = parser.parse_args()
    runs, seconds = (1, 20.0) if args.quick else (3, 60.0)
    results = []
    with tempfile.TemporaryDirectory(prefix="canteen-wall-bench-") as folder:
        for run in range(runs):
            print(f"run {run + 1}/{runs}: {seconds:.0f} s of live updates", flush=True)
            results.append(one_run(run, seconds, args.rate, Path(folder)))
    print("\n| measure | median | spread |")
    print("|---|---|---|")
    for name in results[0]:
        values = [r[name] for r in results]
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} |")


if __name__ == "__main__":
    main()
