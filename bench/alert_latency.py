"""Alert latency: from the moment a rule's condition is met to the notification's arrival.

    python bench/alert_latency.py               # 3 runs of 20 alerts each, at ~1,000 readings/s
    python bench/alert_latency.py --quick       # 1 run of 10 alerts

A private Mosquitto and InfluxDB; the real ingest (`canteen ingest`, its own process)
writing every reading; a load process publishing in-range temperatures from 3 sites x 10
devices at about 1,000 readings/s; and the real alert service (the one the dashboard
runs) delivering through Apprise's `json://` to a local HTTP endpoint. Two kinds of alert:
- immediate: a reading above the fridge's at-once limit (10 °C); the condition is met
  when the reading is published;
- delayed: one reading above 8 °C, then silence; the condition is met when the critical
  delay (2 s here) has elapsed since that reading, and the rule notices it on its tick.
Latency = the endpoint's receive time minus the moment the condition was met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from alerts.policy import UnitPolicy  # noqa: E402
from alerts.rules import RuleBook  # noqa: E402
from alerts.service import AlertService, day_start_in, policy_lookup  # noqa: E402
from alerts.settings import AlertSettings  # noqa: E402
from alerts.store import AlertStore  # noqa: E402
from canteen.cold_units import guess_kind  # noqa: E402
from canteen.local_services import LocalInfluxDB, LocalMosquitto  # noqa: E402
from canteen.settings import MqttSettings  # noqa: E402
from protocol import Channel, TemperatureReading, device_topic, encode_telemetry  # noqa: E402
from tests.notify_endpoint import NotificationEndpoint  # noqa: E402

DELAY = timedelta(seconds=2)
LOAD = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from protocol import Channel, TemperatureReading, device_topic, encode_telemetry
    host, port, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_queued_messages_set(10000)
    client.connect(host, port)
    client.loop_start()
    devices = [(f"load-{s}", f"node-{d}") for s in range(3) for d in range(10)]
    seq, start = 0, time.monotonic()
    while True:
        for site, device in devices:
            seq += 1
            now = datetime.now(UTC)
            reading = TemperatureReading(sensor="fridge-1", ts=now, celsius=3.0 + seq % 7 / 10)
            payload = encode_telemetry(seq, now, [reading])
            client.publish(device_topic(site, device, Channel.TELEMETRY), payload, qos=1)
        pause = start + seq / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    """
)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Trial:
    """Publishes the readings that raise alerts, noting when each condition was met."""

    def __init__(self, broker: LocalMosquitto, site: str) -> None:
        self.site = site
        self.met: dict[str, float] = {}
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self._seq = 0

    def _publish(self, sensor: str, celsius: float) -> datetime:
        self._seq += 1
        now = datetime.now(UTC)
        reading = TemperatureReading(sensor=sensor, ts=now, celsius=celsius)
        topic = device_topic(self.site, "bench-node", Channel.TELEMETRY)
        info = self._client.publish(topic, encode_telemetry(self._seq, now, [reading]), qos=1)
        info.wait_for_publish(10)
        return now

    def immediate(self, sensor: str) -> None:
        at = self._publish(sensor, 11.0)
        self.met[sensor] = at.timestamp()

    def delayed(self, sensor: str) -> None:
        at = self._publish(sensor, 9.0)
        self.met[sensor] = (at + DELAY).timestamp()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _arrivals(
    endpoint: NotificationEndpoint, arrived: dict[str, float], stop: threading.Event
) -> None:
    seen = 0
    while not stop.wait(0.002):
        messages = endpoint.received("duty")
        for message in messages[seen:]:
            sensor = message["message"].split(" ", 1)[0]
            arrived.setdefault(sensor, time.time())
        seen = len(messages)


def one_run(run: int, alerts: int, rate: float, work: Path) -> dict[str, list[float]]:
    """One private hub under load; return the latencies (s) of each alert kind."""
    broker = LocalMosquitto(work / f"mosquitto-{run}")
    influx = LocalInfluxDB(work / f"influxdb-{run}")
    broker.start()
    influx.start()
    env = {
        **os.environ,
        "CANTEEN_MQTT_URL": broker.url,
        "CANTEEN_INFLUX_URL": influx.url,
        "CANTEEN_STATE_DIR": str(work / f"hub-{run}"),
        "PYTHONPATH": str(ROOT),
    }
    canteen = [sys.executable, "-m", "canteen.cli"]
    ingest = subprocess.Popen([*canteen, "ingest"], env=env, stderr=subprocess.DEVNULL)
    load = subprocess.Popen(
        [sys.executable, "-c", LOAD, broker.host, str(broker.port), str(rate)], env=env
    )
    endpoint = NotificationEndpoint().start()
    fast = UnitPolicy(warning_c=5.0, critical_c=8.0, critical_delay=DELAY, immediate_c=10.0)
    site = f"bench-{run}"
    settings = AlertSettings(
        channels={"*": {"duty": [endpoint.url("duty")]}},
        units={f"{kind}-{i}": fast for kind in ("now", "late") for i in range(alerts)},
        daily_cap=1000,
    )
    store = AlertStore(work / f"alerts-{run}.sqlite3")
    service = AlertService(
        settings,
        MqttSettings.from_url(broker.url),
        store,
        RuleBook(policy_lookup(settings, guess_kind), UTC),
        b"x" * 32,
        day_start_in(UTC),
        client_id=f"bench-alerts-{run}",
    )
    service.start()
    arrived: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_arrivals, args=(endpoint, arrived, stop), daemon=True)
    watcher.start()
    trial = Trial(broker, site)
    try:
        service.subscribed.wait(15)
        time.sleep(3)  # let the load reach its rate
        for i in range(alerts):
            trial.immediate(f"now-{i}")
            time.sleep(0.4)
            trial.delayed(f"late-{i}")
            time.sleep(0.4)
        deadline = time.monotonic() + 20
        while len(arrived) < 2 * alerts and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        trial.close()
        load.terminate()
        ingest.terminate()
        service.stop()
        store.close()
        endpoint.close()
        ingest.wait(15)
        load.wait(15)
        broker.stop()
        influx.stop()
    missing = set(trial.met) - set(arrived)
    if missing:
        raise SystemExit(f"run {run}: no notification for {sorted(missing)}")
    result: dict[str, list[float]] = {"immediate": [], "delayed": []}
    for sensor, met in trial.met.items():
        kind = "immediate" if sensor.startswith("now-") else "delayed"
        result[kind].append(arrived[sensor] - met)
    return result


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of 10 alerts")
    parser.add_argument("--rate", type=float, default=1000.0, help="load, readings per second")
    args = parser.parse_args()
    runs, alerts = (1, 10) if args.quick else (3, 20)
    per_run: list[dict[str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="canteen-alert-bench-") as folder:
        for run in range(runs):
            print(f"run {run + 1}/{runs}: {alerts} alerts of each kind under load", flush=True)
            per_run.append(one_run(run, alerts, args.rate, Path(folder)))
    print("\n| alert | p50 (ms) | p99 (ms) | max (ms) | runs' p99 (ms) | alerts |")
    print("|---|---|---|---|---|---|")
    for kind in ("immediate", "delayed"):
        every = [v for result in per_run for v in result[kind]]
        p99s = [_percentile(result[kind], 0.99) * 1000 for result in per_run]
        print(
            f"| {kind} | {statistics.median(every) * 1000:.0f} | "
            f"{_percentile(every, 0.99) * 1000:.0f} | {max(every) * 1000:.0f} | "
            f"{' / '.join(f'{p:.0f}' for p in p99s)} | {len(every)} |"
        )


if __name__ == "__main__":
    main()
