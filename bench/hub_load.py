"""Hub under load: 50 devices x 10 readings/s through the real ingest and dashboard.

    python bench/hub_load.py                 # 20 minutes, 500 readings/s
    python bench/hub_load.py --minutes 1     # a quick look

A private Mosquitto and InfluxDB 1.x (canteen.local_services), the ingest
(`python -m canteen.cli ingest`) and the dashboard (`python -m canteen.cli dashboard`,
with one wall screen's event stream open) run as their own processes. 50 simulated
devices, each its own MQTT client, publish one reading a message (as live agents do) at
10 readings/s each. Every 10 s the ingest's and the dashboard's resident memory and CPU
come from /proc; every 2 s a probe reading is published and InfluxDB is polled until it
is queryable, which gives the lag. Memory is judged flat or not by the slope of each
process's RSS over the second half of the run (least squares, MB a minute), after the
start-up and the first minutes' filling of buffers; the machine's load average is
printed with it, since the CPU and lag figures depend on it. At the end every published
reading must be in InfluxDB (by count per measurement): the exit status is 1 if any is
missing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from canteen.local_services import LocalInfluxDB, LocalMosquitto, free_port  # noqa: E402
from canteen.settings import InfluxSettings  # noqa: E402
from protocol import format_ts  # noqa: E402
from timeseries import InfluxError, InfluxQL  # noqa: E402

DEVICES = 50
RATE_PER_DEVICE = 10  # readings a second
SITES = ("load-a", "load-b", "load-c", "load-d", "load-e")
PROBE_SITE = "load-probe"
SAMPLE_S = 10.0
PROBE_EVERY_S = 2.0
DRAIN_TIMEOUT_S = 180.0
DATABASE = "canteen_load"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KINDS = ("temperature",) * 7 + ("door", "waste", "occupancy")
FIELD_OF = {"temperature": "celsius", "door": "open", "waste": "grams", "occupancy": "present"}


def reading(kind: str, sensor: str, ts: datetime, n: int) -> dict[str, object]:
    """One reading of a kind, its value varying with n."""
    body: dict[str, object] = {"kind": kind, "sensor": sensor, "ts": format_ts(ts)}
    if kind == "temperature":
        body["celsius"] = round(3.0 + (n % 40) / 10, 2)
    elif kind == "door":
        body["open"] = n % 2 == 0
    elif kind == "waste":
        body |= {"grams": 50.0 + n % 400, "category": "plate", "dish": "braised-pork"}
    else:
        body |= {"entered": n % 3, "exited": n % 2, "present": 40 + n % 20}
    return body


def message(seq: int, readings: list[dict[str, object]]) -> bytes:
    """A telemetry message as an agent sends it."""
    sent = format_ts(datetime.now(UTC))
    return json.dumps({"v": 1, "seq": seq, "sent": sent, "readings": readings}).encode()


@dataclass
class Device:
    """One simulated device: its own MQTT client, topic, kind and counters."""

    site: str
    name: str
    kind: str
    client: mqtt.Client
    seq: int = 0
    published: int = 0

    @property
    def topic(self) -> str:
        return f"canteen/{self.site}/{self.name}/telemetry"


def connect(port: int, client_id: str) -> mqtt.Client:
    """A QoS 1 publisher connected to the private broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


class Fleet:
    """50 devices publishing one reading a message, each at 10 readings/s."""

    def __init__(self, port: int) -> None:
        self.devices = [
            Device(
                SITES[i % len(SITES)], f"pi-{i:02d}", KINDS[i % len(KINDS)], connect(port, f"d{i}")
            )
            for i in range(DEVICES)
        ]
        self.behind_s = 0.0  # the furthest the schedule slipped
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self._start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)

    @property
    def published(self) -> dict[str, int]:
        """Readings published so far, by measurement."""
        totals: dict[str, int] = dict.fromkeys(FIELD_OF, 0)
        for device in self.devices:
            totals[device.kind] += device.published
        return totals

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for device in self.devices:
            device.client.disconnect()
            device.client.loop_stop()

    def _run(self) -> None:
        # Each device's n-th reading is due at start + n/10 s, devices spread over the
        # 100 ms; its ts is its due time, so every reading has a distinct timestamp.
        began = time.monotonic()
        period = 1.0 / RATE_PER_DEVICE
        for tick in itertools.count():
            due = began + tick * period
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            if self._stop.is_set():
                return
            self.behind_s = max(self.behind_s, -wait)
            for index, device in enumerate(self.devices):
                ts = self._start + timedelta(seconds=tick * period, microseconds=index * 1000)
                device.seq += 1
                body = reading(device.kind, "probe-1", ts, tick)
                info = device.client.publish(device.topic, message(device.seq, [body]), qos=1)
                if info.rc == mqtt.MQTT_ERR_SUCCESS:
                    device.published += 1


class LagProbe:
    """Publishes a probe reading every 2 s and times until InfluxDB answers with it."""

    def __init__(self, port: int, influx: InfluxQL) -> None:
        self.client = connect(port, "lag-probe")
        self.influx = influx
        self.lags: list[tuple[float, float]] = []  # (monotonic when published, lag s)
        self.published = 0
        self._seq = itertools.count(1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.disconnect()
        self.client.loop_stop()

    def measure_once(self, timeout: float = 60.0) -> float | None:
        """Publish one probe reading; return how long until it is queryable."""
        seq = next(self._seq)
        ts = datetime.now(UTC)
        body = reading("temperature", "probe", ts, seq)
        started = time.monotonic()
        self.client.publish(f"canteen/{PROBE_SITE}/probe/telemetry", message(seq, [body]), qos=1)
        self.published += 1
        ms = int(ts.timestamp() * 1000)
        query = f"SELECT celsius FROM temperature WHERE site = '{PROBE_SITE}' AND time = {ms}ms"  # noqa: S608
        while time.monotonic() - started < timeout:
            try:
                if self.influx.rows(query):
                    return time.monotonic() - started
            except InfluxError:
                pass
            time.sleep(0.02)
        return None

    def _run(self) -> None:
        while True:
            began = time.monotonic()
            lag = self.measure_once()
            if lag is not None:
                self.lags.append((began, lag))
            if self._stop.wait(max(0.0, PROBE_EVERY_S - (time.monotonic() - began))):
                return


def proc_sample(pid: int) -> tuple[float, float]:
    """(resident MB, CPU seconds so far) of a process, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss_kb / 1024, cpu_s


@dataclass
class Sample:
    """One 10-second sample of each watched process."""

    at: float
    rss_mb: dict[str, float]
    cpu_pct: dict[str, float]
    load_1m: float = field(default_factory=lambda: os.getloadavg()[0])


@dataclass
class Sampler:
    """Samples memory and CPU of named processes every 10 s."""

    pids: dict[str, int]
    samples: list[Sample] = field(default_factory=list)
    _last: dict[str, tuple[float, float]] = field(default_factory=dict)

    def sample(self) -> None:
        now = time.monotonic()
        rss: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name, pid in self.pids.items():
            rss_mb, cpu_s = proc_sample(pid)
            then, cpu_then = self._last.get(name, (now, cpu_s))
            cpu[name] = 100 * (cpu_s - cpu_then) / (now - then) if now > then else 0.0
            rss[name] = rss_mb
            self._last[name] = (now, cpu_s)
        self.samples.append(Sample(now, rss, cpu))


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a hub process, its output in a log file."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "canteen.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition until it holds; fail loudly after timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def stored(influx: InfluxQL, sites_regex: str) -> dict[str, int]:
    """Readings in InfluxDB by measurement, for the sites matching a regex."""
    totals: dict[str, int] = {}
    for measurement, field_name in FIELD_OF.items():
        rows = influx.rows(
            f"SELECT count({field_name}) FROM {measurement} WHERE site =~ /{sites_regex}/"  # noqa: S608
        )
        totals[measurement] = int(rows[0]["count"]) if rows else 0
    return totals


class WallScreen:
    """Keeps a wall screen's event stream open on the dashboard, counting its events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wall", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with httpx.stream("GET", self.url, timeout=30) as response:
                    for line in response.iter_lines():
                        if line.startswith("event:"):
                            self.events += 1
                        if self._stop.is_set():
                            return
            except httpx.HTTPError:
                self._stop.wait(1)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of some values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def rss_slope(samples: list[Sample], name: str, since: float) -> float:
    """MB a minute: the least-squares slope of a process's RSS over samples after `since`."""
    points = [(s.at / 60, s.rss_mb[name]) for s in samples if s.at >= since]
    if len(points) < 2:
        return float("nan")
    return statistics.linear_regression(*zip(*points, strict=True)).slope


def table(sampler: Sampler, lags: list[tuple[float, float]], began: float, minutes: int) -> str:
    """The per-minute table: memory and CPU of each process, lag p50 and p99, load."""
    lines = [
        "| minute | ingest RSS MB | ingest CPU % | dashboard RSS MB | dashboard CPU % "
        "| lag p50 ms | lag p99 ms | probes | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for minute in range(minutes):
        lo, hi = began + 60 * minute, began + 60 * (minute + 1)
        samples = [s for s in sampler.samples if lo < s.at <= hi]
        in_minute = [lag * 1000 for at, lag in lags if lo <= at < hi]
        if not samples:
            continue
        last = samples[-1]
        cpu_i = statistics.fmean(s.cpu_pct["ingest"] for s in samples)
        cpu_d = statistics.fmean(s.cpu_pct["dashboard"] for s in samples)
        p50 = f"{percentile(in_minute, 50):.0f}" if in_minute else "-"
        p99 = f"{percentile(in_minute, 99):.0f}" if in_minute else "-"
        lines.append(
            f"| {minute + 1} | {last.rss_mb['ingest']:.1f} | {cpu_i:.1f} "
            f"| {last.rss_mb['dashboard']:.1f} | {cpu_d:.1f} | {p50} | {p99} | {len(in_minute)} "
            f"| {last.load_1m:.1f} |"
        )
    return "\n".join(lines)


def flatness(sampler: Sampler, began: float, elapsed: float) -> str:
    """Each process's RSS slope over the second half of the run, and the load it ran under."""
    half = began + elapsed / 2
    slopes = ", ".join(
        f"{name} {rss_slope(sampler.samples, name, half):+.3f} MB/min" for name in sampler.pids
    )
    loads = [s.load_1m for s in sampler.samples]
    return (
        f"RSS slope over the second half ({elapsed / 120:.1f} to {elapsed / 60:.1f} min): "
        f"{slopes}; load average (1 min) {min(loads):.1f} to {max(loads):.1f}, "
        f"mean {statistics.fmean(loads):.1f} on {os.cpu_count()} CPUs"
    )


def run(minutes: int, workdir: Path) -> int:
    """Run the whole benchmark; return the exit status."""
    broker = LocalMosquitto(workdir / "mosquitto", die_with_parent=True)
    database = LocalInfluxDB(workdir / "influxdb", die_with_parent=True)
    broker.start()
    database.start()
    influx_settings = InfluxSettings(url=database.url, database=DATABASE)
    influx = InfluxQL(influx_settings)
    influx.create_database()
    port = free_port()
    env = {
        **os.environ,
        "CANTEEN_MQTT_URL": broker.url,
        "CANTEEN_INFLUX_URL": database.url,
        "CANTEEN_INFLUX_DB": DATABASE,
        "CANTEEN_STATE_DIR": str(workdir / "state"),
        "CANTEEN_SITE": SITES[0],
        "PYTHONPATH": str(ROOT),
    }
    kiosk = kiosk_token(env, SITES[0])
    ingest = start_process(["ingest"], env, workdir / "ingest.log")
    dashboard = start_process(["dashboard", "--port", str(port)], env, workdir / "dashboard.log")
    processes = {"ingest": ingest, "dashboard": dashboard}
    fleet: Fleet | None = None
    probe = LagProbe(broker.port, influx)
    wall = WallScreen(f"http://127.0.0.1:{port}/api/sites/{SITES[0]}/stream{kiosk}")
    try:
        wait_for(lambda: _alive(processes) and probe.measure_once(1.0) is not None, 60, "ingest")
        wait_for(
            lambda: _alive(processes) and _answers(f"http://127.0.0.1:{port}/api/health"),
            60,
            "the dashboard",
        )
        wall.start()
        sampler = Sampler({name: p.pid for name, p in processes.items()})
        fleet = Fleet(broker.port)
        sampler.sample()
        began = time.monotonic()
        fleet.start()
        probe.start()
        print(f"publishing {DEVICES} x {RATE_PER_DEVICE} readings/s for {minutes} min ...")
        end = began + 60 * minutes
        while time.monotonic() < end:
            time.sleep(min(SAMPLE_S, max(0.0, end - time.monotonic())))
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"the {name} exited with {process.returncode}; see {workdir}")
                    return 1
            sampler.sample()
            last = sampler.samples[-1]
            print(
                f"  {time.monotonic() - began:5.0f} s  published {sum(fleet.published.values()):>8}"
                f"  ingest {last.rss_mb['ingest']:.1f} MB {last.cpu_pct['ingest']:.0f} %"
                f"  dashboard {last.rss_mb['dashboard']:.1f} MB {last.cpu_pct['dashboard']:.0f} %"
                f"  lags {len(probe.lags)}",
                flush=True,
            )
        fleet.stop()
        probe.stop()
        wall.stop()
        elapsed = time.monotonic() - began
        published = fleet.published
        total = sum(published.values())
        drained_at = time.monotonic()
        found = stored(influx, "^load-[a-e]$")
        while found != published and time.monotonic() - drained_at < DRAIN_TIMEOUT_S:
            time.sleep(0.5)
            found = stored(influx, "^load-[a-e]$")
        drain_s = time.monotonic() - drained_at
        print()
        print(table(sampler, probe.lags, began, minutes))
        print()
        print(flatness(sampler, began, elapsed))
        lags_ms = [lag * 1000 for _, lag in probe.lags]
        print(
            f"published {total} readings in {elapsed:.0f} s ({total / elapsed:.0f}/s; schedule "
            f"slipped at most {fleet.behind_s * 1000:.0f} ms); in InfluxDB: {sum(found.values())} "
            f"(drained {drain_s:.1f} s after the last publish)"
        )
        print(f"by measurement: published {published}, stored {found}")
        if lags_ms:
            print(
                f"lag over {len(lags_ms)} probes: p50 {percentile(lags_ms, 50):.0f} ms, "
                f"p99 {percentile(lags_ms, 99):.0f} ms, max {max(lags_ms):.0f} ms"
            )
        print(f"wall screen events received: {wall.events}")
        _report_dead_letters(workdir / "state" / "hub.sqlite3")
        lost = total - sum(found.values())
        if found != published:
            print(f"LOST {lost} readings (or stored more than published): {found} vs {published}")
            return 1
        print("no reading lost")
        return 0
    finally:
        if fleet is not None and fleet._thread.is_alive():
            fleet.stop()
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        influx.close()
        broker.stop()
        database.stop()


def kiosk_token(env: dict[str, str], site: str) -> str:
    """`?kiosk=TOKEN` for a wall screen of the site (`canteen kiosk-token`), or "" without."""
    made = subprocess.run(
        [sys.executable, "-m", "canteen.cli", "kiosk-token", site],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    _, found, query = made.stdout.strip().partition("?")
    return f"?{query}" if made.returncode == 0 and found else ""


def _alive(processes: dict[str, subprocess.Popen[bytes]]) -> bool:
    """True while every hub process runs; stop the benchmark if one has exited."""
    for name, process in processes.items():
        if process.poll() is not None:
            raise SystemExit(f"the {name} exited with {process.returncode} (see its log)")
    return True


def _answers(url: str) -> bool:
    try:
        # Any answer will do: with logins, /api/health may ask this anonymous caller to sign in.
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _report_dead_letters(path: Path) -> None:
    import sqlite3

    if not path.exists():
        print("dead letters: none (no hub database)")
        return
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM dead_letters").fetchone()
    print(f"dead letters: {count}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes",
        type=int,
        default=20,
        help="how long to publish (20: the second half, judged for flatness, is 10 minutes)",
    )
    parser.add_argument("--keep", type=Path, help="keep the services' folders and logs here")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args.minutes, args.keep)
    with tempfile.TemporaryDirectory(prefix="hub-load-") as workdir:
        return run(args.minutes, Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
