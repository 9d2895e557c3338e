"""Edge agent benchmark: memory and CPU per reading of a fridge node, and outbox replay rate.

    python bench/edge_agent.py            # 60 s live run + a 24-hour backlog replay
    python bench/edge_agent.py --quick    # 15 s live run + a 1-hour backlog

Live: one agent process with 8 DS18B20 probes (the real driver, on a temporary 1-Wire
sysfs tree) read once a second each, publishing to a private Mosquitto; its peak
resident memory (VmHWM) and CPU time per reading (after a 5 s warm-up) come from /proc.
Replay: an outbox
holding a 24-hour backlog of those 8 probes (691,200 readings) drains to the broker
at the default rate (20 messages/s of 500 readings) and at the highest allowed
(1,000 messages/s); the rate is what a subscriber received.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from canteen.local_services import LocalMosquitto  # noqa: E402
from edge.outbox import Outbox  # noqa: E402
from protocol import TemperatureReading  # noqa: E402

PROBES = 8
WARM_UP_S = 5.0
W1_TEXT = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
AGENT = textwrap.dedent(
    """
    import signal, sys, threading
    from pathlib import Path
    from edge.app import run_device
    from edge.config import BuildContext, load_config
    from edge.drivers import utc_now
    config = load_config(sys.argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    context = BuildContext(site=config.site, device=config.device, clock=utc_now,
                           w1_root=Path(sys.argv[2]))
    run_device(config, config.mqtt_settings(), context, stop)
    """
)


class Counter:
    """Counts the readings arriving on one site's telemetry topics."""

    def __init__(self, port: int, site: str, before: datetime | None = None) -> None:
        self.before = before.strftime("%Y-%m-%dT%H:%M:%S") if before else None
        self.readings = 0
        self.first: float | None = None
        self.last = 0.0
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(f"canteen/{site}/+/telemetry", 1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._count
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.subscribed.wait(10)

    def _count(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        readings = orjson.loads(message.payload)["readings"]
        if self.before is not None:  # only the backlog, not what the agent reads meanwhile
            readings = [r for r in readings if r["ts"] < self.before]
        self.readings += len(readings)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _proc(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and peak resident memory in kB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return cpu, hwm


def _config(path: Path, site: str, port: int, state: Path, rate: float) -> None:
    sensors = "\n".join(
        f"  - {{type: ds18b20, sensor: probe-{n}, address: 28-00000000000{n}, interval_s: 1}}"
        for n in range(PROBES)
    )
    path.write_text(
        f"site: {site}\ndevice: cold-room\nmqtt_url: mqtt://127.0.0.1:{port}\n"
        f"state_dir: {state}\nreplay_messages_per_s: {rate}\n"
        # a day of 8 probes at 1/s is 691,200 readings: more than the default 500,000
        f"outbox_max_readings: 1000000\nsensors:\n{sensors}\n",
        encoding="utf-8",
    )


def _start_agent(work: Path, site: str, port: int, rate: float) -> subprocess.Popen[bytes]:
    w1 = work / "w1"
    for n in range(PROBES):
        (w1 / f"28-00000000000{n}").mkdir(parents=True, exist_ok=True)
        (w1 / f"28-00000000000{n}" / "w1_slave").write_text(W1_TEXT, encoding="ascii")
    config = work / f"{site}.yaml"
    _config(config, site, port, work / site, rate)
    return subprocess.Popen(
        [sys.executable, "-c", AGENT, str(config), str(w1)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def live(work: Path, port: int, seconds: float) -> dict[str, float]:
    """Run the agent for `seconds`; return readings, CPU µs per reading and peak RSS."""
    counter = Counter(port, "bench-live")
    agent = _start_agent(work, "bench-live", port, 20)
    try:
        time.sleep(WARM_UP_S)  # start-up (imports, connecting) is not per-reading cost
        cpu_before, _ = _proc(agent.pid)
        readings_before = counter.readings
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(5)
            print(f"  live: {counter.readings} readings so far", flush=True)
        cpu, hwm = _proc(agent.pid)
        readings = counter.readings - readings_before
    finally:
        agent.terminate()
        agent.wait(30)
        counter.close()
    return {
        "readings": readings,
        "cpu_us_per_reading": (cpu - cpu_before) * 1e6 / max(readings, 1),
        "peak_rss_mb": hwm / 1024,
    }


def replay(work: Path, port: int, hours: float, rate: float, label: str) -> dict[str, float]:
    """Fill an outbox with `hours` of 8 probes' readings, then time the drain."""
    site = f"bench-replay-{label}"
    state = work / site
    outbox = Outbox(state / "outbox.sqlite3", max_readings=2_000_000)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours, seconds=1)
    total = int(hours * 3600) * PROBES
    chunk: list[TemperatureReading] = []
    for n in range(total):
        ts = start + timedelta(seconds=n // PROBES)
        chunk.append(TemperatureReading(sensor=f"probe-{n % PROBES}", ts=ts, celsius=3.5))
        if len(chunk) == 50_000:
            outbox.add(chunk)
            chunk = []
    outbox.add(chunk)
    outbox.close()
    print(f"  replay {label}: outbox holds {total} readings", flush=True)
    counter = Counter(port, site, before=start + timedelta(hours=hours))
    agent = _start_agent(work, site, port, rate)
    started = time.monotonic()
    try:
        while counter.readings < total and time.monotonic() - started < 1800:
            time.sleep(2)
            print(f"  replay {label}: {counter.readings}/{total}", flush=True)
    finally:
        agent.terminate()
        agent.wait(30)
        counter.close()
    elapsed = (counter.last or time.monotonic()) - started
    return {"readings": counter.readings, "seconds": elapsed, "per_s": counter.readings / elapsed}


def main() -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run for a smoke test")
    args = parser.parse_args()
    seconds, hours = (15.0, 1.0) if args.quick else (60.0, 24.0)
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        work = Path(tmp)
        broker = LocalMosquitto(work / "mosquitto")
        broker.start()
        try:
            result = live(work, broker.port, seconds)
            default = replay(work, broker.port, hours, 20, "default")
            fastest = replay(work, broker.port, hours, 1000, "max")
        finally:
            broker.stop()
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| live readings in {seconds:.0f} s (8 probes at 1/s) | {result['readings']:.0f} |")
    print(f"| agent CPU per reading | {result['cpu_us_per_reading']:.0f} µs |")
    print(f"| agent peak resident memory | {result['peak_rss_mb']:.1f} MB |")
    for name, run in (("20 msg/s (default)", default), ("1,000 msg/s", fastest)):
        print(
            f"| replay of {hours:.0f} h backlog, {name} | {run['readings']:.0f} readings in "
            f"{run['seconds']:.1f} s = {run['per_s']:,.0f} readings/s |"
        )
    lost = (default["readings"] < int(hours * 3600) * PROBES) or (
        fastest["readings"] < int(hours * 3600) * PROBES
    )
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
