"""Ingest throughput, latency and cost: the real `canteen ingest` against a full broker queue.

    python bench/ingest_drain.py                  # 3 runs of everything (about 10 minutes)
    python bench/ingest_drain.py --quick          # smaller and 1 run: a look, not a figure
    python bench/ingest_drain.py --only drain --compare /tmp/ingest-baseline

A private Mosquitto and InfluxDB 1.x (canteen.local_services) on free loopback ports.
For each run the ingest's persistent session (its client id, clean_start=False) is first
connected once and closed, so the broker queues for it; then the backlog is published at
QoS 1 and the real ingest (`python -m canteen.cli ingest`) is started as a subprocess:

- drain: 100,000 one-reading messages from 50 devices over 3 sites, the PROTOCOL.md
  mix of kinds (70 % temperature, 10 % each door, waste, occupancy);
- replay: messages of 500 readings, as edge agents replay a backlog; a device's readings
  1 ms apart, so a message's readings share a second or two;
- spread: the same, but a device's readings 3 s apart (a probe polled every 30 s among
  ten) and each device's backlog after the other's: no two readings share a second;
- growth: one-reading messages spread over 10, 100 and 1,000 devices;
- live: the ingest running, 1,000 one-reading messages/s; 1 % of them are probes whose
  publish → visible-in-InfluxDB time is measured by polling InfluxDB every 20 ms.

The drain time runs from the ingest's MQTT connect (its "connected" log line) until
InfluxDB holds every reading (watched with a point query for the last one, then counted);
the ingest's peak RSS (VmHWM) and CPU (utime + stime), and InfluxDB's and Mosquitto's CPU
over the drain, come from /proc at that moment. CPU per reading is given in full and net
of the CPU an idle ingest spends starting up. Validation, dead-lettering and ack-after-write are the
ingest's own, untouched. `--compare TREE` runs a second copy of `ingest/` and
`protocol/` (e.g. `git archive HEAD ingest protocol | tar -x -C TREE`) alternately in the
same runs and prints the ratios. Exit status 1 if any reading is lost or dead-lettered.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import urllib3
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from canteen.local_services import LocalInfluxDB, LocalMosquitto  # noqa: E402
from protocol import Channel, format_ts, subscription  # noqa: E402

SITES = ("drain-a", "drain-b", "drain-c")
KINDS = ("temperature",) * 7 + ("door", "waste", "occupancy")
FIELD_OF = {"temperature": "celsius", "door": "open", "waste": "grams", "occupancy": "present"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DONE_TIMEOUT_S = 300.0
_runs = itertools.count(1)


@dataclass(frozen=True)
class Backlog:
    """What the broker holds for the ingest when it starts."""

    name: str
    devices: int
    messages: int
    per_message: int
    spacing_ms: int = 1
    """Time between a device's readings."""
    end_to_end: bool = False
    """Each device's readings after the previous device's, so no two share a second."""

    @property
    def readings(self) -> int:
        return self.messages * self.per_message

    @property
    def per_device(self) -> int:
        """Readings of the device with the most (the first ones get a message more)."""
        return -(-self.messages // self.devices) * self.per_message

    def reading_ms(self, device: int, k: int) -> int:
        """When a device's k-th reading was taken, in ms after the backlog's start."""
        if self.end_to_end:
            k += device * self.per_device
        return k * self.spacing_ms

    def start(self) -> datetime:
        """When the first reading was taken: the last is at most 2 hours old."""
        last = max(self.reading_ms(d, self.per_device - 1) for d in range(self.devices))
        return datetime.now(UTC) - timedelta(hours=2, milliseconds=last)


@dataclass
class Outcome:
    """One run of one backlog through one ingest tree."""

    readings: int
    stored: int
    dead: int
    drain_s: float
    wall_s: float
    cpu_s: float
    startup_cpu_s: float
    rss_mb: float
    influx_cpu_s: float
    broker_cpu_s: float

    @property
    def rate(self) -> float:
        return self.readings / self.drain_s

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu_s / self.readings

    @property
    def net_cpu_us(self) -> float:
        return 1e6 * (self.cpu_s - self.startup_cpu_s) / self.readings

    @property
    def influx_cpu_us(self) -> float:
        return 1e6 * self.influx_cpu_s / self.readings

    @property
    def broker_cpu_us(self) -> float:
        return 1e6 * self.broker_cpu_s / self.readings


def reading(kind: str, sensor: str, ts: str, n: int) -> str:
    """One reading as JSON text, its value varying with n."""
    head = f'{{"kind":"{kind}","sensor":"{sensor}","ts":"{ts}",'
    if kind == "temperature":
        return head + f'"celsius":{3.0 + (n % 40) / 10:.2f}}}'
    if kind == "door":
        return head + f'"open":{"true" if n % 2 else "false"}}}'
    if kind == "waste":
        return head + f'"grams":{50.0 + n % 400},"category":"plate","dish":"braised-pork"}}'
    return head + f'"entered":{n % 3},"exited":{n % 2},"present":{40 + n % 20}}}'


SENSOR_OF = {
    "temperature": "fridge-1",
    "door": "fridge-1",
    "waste": "bin-plate",
    "occupancy": "dining-main",
}


def backlog_messages(backlog: Backlog, start: datetime) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of every message; every reading of a device has its own ms."""
    sent = format_ts(datetime.now(UTC))
    seqs = [0] * backlog.devices
    for n in range(backlog.messages):
        device = n % backlog.devices
        seqs[device] += 1
        first = (seqs[device] - 1) * backlog.per_message
        parts = []
        for k in range(first, first + backlog.per_message):
            kind = KINDS[(k + device) % len(KINDS)]
            ts = format_ts(start + timedelta(milliseconds=backlog.reading_ms(device, k)))
            parts.append(reading(kind, SENSOR_OF[kind], ts, k))
        body = f'{{"v":1,"seq":{seqs[device]},"sent":"{sent}","readings":[{",".join(parts)}]}}'
        site = SITES[device % len(SITES)]
        yield f"canteen/{site}/pi-{device:04d}/telemetry", body.encode()


def last_reading(backlog: Backlog, start: datetime) -> tuple[str, str, int]:
    """(measurement, device, ms) of the backlog's last reading, the last one to land."""
    last = backlog.messages - 1
    device = last % backlog.devices
    k = (last // backlog.devices + 1) * backlog.per_message - 1
    ms = int((start + timedelta(milliseconds=backlog.reading_ms(device, k))).timestamp() * 1000)
    return KINDS[(k + device) % len(KINDS)], f"pi-{device:04d}", ms


def expected_counts(backlog: Backlog) -> dict[str, int]:
    """Readings per measurement the backlog holds."""
    counts = dict.fromkeys(FIELD_OF, 0)
    per_device = [0] * backlog.devices
    for n in range(backlog.messages):
        per_device[n % backlog.devices] += 1
    for device, messages in enumerate(per_device):
        for k in range(messages * backlog.per_message):
            counts[KINDS[(k + device) % len(KINDS)]] += 1
    return counts


class Publisher:
    """One QoS 1 MQTT client that publishes and counts the broker's PUBACKs."""

    def __init__(self, port: int, client_id: str) -> None:
        self.acked = 0
        self.sent = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, *_args: object) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent += 1
        if self.sent - self.acked > 20_000:  # paho's 16-bit packet ids run out at 65,535
            self.wait_acked(self.sent - 10_000)
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise SystemExit(f"publish failed: {mqtt.error_string(info.rc)}")

    def wait_acked(self, count: int, timeout: float = 300.0) -> None:
        wait_for(lambda: self.acked >= count, timeout, f"{count} PUBACKs")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def prime_session(port: int, client_id: str) -> None:
    """Connect the ingest's persistent session once and leave, so the broker queues for it."""
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_subscribe = lambda *_args: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    client.subscribe([(subscription(Channel.TELEMETRY), 1), (subscription(Channel.STATUS), 1)])
    if not subscribed.wait(10):
        raise SystemExit("the broker did not confirm the session's subscriptions")
    client.disconnect()
    client.loop_stop()


def forget_session(port: int, client_id: str) -> None:
    """End an ingest's persistent session, so the broker stops queueing for it.

    Every measurement uses an ingest session of its own; left behind, each would collect
    a copy of all later traffic, and the broker would slow down for every later run.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 0
    client.connect("127.0.0.1", port, clean_start=True, properties=properties)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition until it holds; fail loudly after timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class Influx:
    """Counts and probe queries over InfluxDB's /query."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=10.0))

    def query(self, database: str, statement: str, method: str = "GET") -> list[dict[str, object]]:
        response = self.http.request(
            method, f"{self.url}/query", fields={"db": database, "q": statement}
        )
        if response.status != 200:
            raise SystemExit(f"InfluxDB query failed ({response.status}): {response.data!r}")
        results: list[dict[str, object]] = json.loads(response.data)["results"]
        return results

    def create(self, database: str) -> None:
        self.query(database, f'CREATE DATABASE "{database}"', method="POST")

    def has(self, database: str, point: tuple[str, str, int]) -> bool:
        """Whether one reading (measurement, device, ms) is queryable: a cheap point query."""
        measurement, device, ms = point
        statement = (
            f"SELECT {FIELD_OF[measurement]} FROM {measurement} "  # noqa: S608 (our own constants)
            f"WHERE device = '{device}' AND time = {ms}ms"
        )
        return bool(self.query(database, statement)[0].get("series"))

    def counts(self, database: str) -> dict[str, int]:
        statement = ";".join(
            f"SELECT count({f}) FROM {m}"  # noqa: S608 (our own constants)
            for m, f in FIELD_OF.items()
        )
        found = {}
        for measurement, result in zip(FIELD_OF, self.query(database, statement), strict=True):
            series = result.get("series")
            found[measurement] = int(series[0]["values"][0][1]) if series else 0  # type: ignore[index]
        return found


@dataclass
class Hub:
    """The private services and the ingest trees under test."""

    workdir: Path
    broker: LocalMosquitto
    influx: Influx
    influx_url: str
    influx_pid: int | None
    startup_cpu: dict[str, float] = field(default_factory=dict)
    profile: bool = False
    count_watch: bool = False
    """Watch a drain by counting every reading every 50 ms (how this script did before)."""

    def services_cpu(self) -> tuple[float, float]:
        """CPU seconds InfluxDB and Mosquitto have spent so far."""
        influx_pid, broker_pid = self.influx_pid, self.broker.pid
        if influx_pid is None or broker_pid is None:
            raise SystemExit("InfluxDB or Mosquitto is no longer running")
        return proc_cpu_rss(influx_pid)[0], proc_cpu_rss(broker_pid)[0]

    def env(self, tree: Path, database: str, state: Path) -> dict[str, str]:
        return {
            **os.environ,
            "CANTEEN_MQTT_URL": self.broker.url,
            "CANTEEN_INFLUX_URL": self.influx_url,
            "CANTEEN_INFLUX_DB": database,
            "CANTEEN_STATE_DIR": str(state),
            "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(tree), str(ROOT)])),
        }

    def prepare(self, tuning: dict[str, object], label: str) -> tuple[Path, str, str]:
        """A fresh run folder (config, state), database and client id: (folder, db, id)."""
        run = next(_runs)
        database, client_id = f"drain_{run}", f"canteen-ingest-{run}"
        folder = self.workdir / f"run-{run}-{label}"
        folder.mkdir()
        self.influx.create(database)
        config = {"ingest": {"client_id": client_id, **tuning}}
        (folder / "hub.yaml").write_text(json.dumps(config), encoding="utf-8")
        return folder, database, client_id

    def spawn(self, tree: Path, folder: Path, database: str) -> subprocess.Popen[bytes]:
        """`python -m canteen.cli ingest` from a tree, its output in the folder's log."""
        with (folder / "ingest.log").open("wb") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "canteen.cli",
                    "ingest",
                    "--config",
                    str(folder / "hub.yaml"),
                ],
                cwd=tree,
                env=self.env(tree, database, folder / "state"),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )


def profile(pid: int, folder: Path) -> subprocess.Popen[bytes]:
    """Sample the ingest with py-spy (installed into the venv) until interrupted."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--threads",
            "--format",
            "raw",
            "--output",
            str(folder / "profile.txt"),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def proc_cpu_rss(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak resident MB) of a process, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return cpu_s, hwm_kb / 1024


def connected(folder: Path) -> bool:
    return b"ingest connected" in (folder / "ingest.log").read_bytes()


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def dead_letters(folder: Path) -> int:
    path = folder / "state" / "hub.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM dead_letters").fetchone()
    return int(count)


def startup_cpu(hub: Hub, tree: Path, tuning: dict[str, object]) -> float:
    """CPU seconds an ingest spends from start to subscribed, with nothing queued."""
    folder, database, client_id = hub.prepare(tuning, "idle")
    process = hub.spawn(tree, folder, database)
    try:
        wait_for(lambda: connected(folder) or process.poll() is not None, 60, "the ingest")
        time.sleep(0.5)  # let the subscription settle, as in a real run
        return proc_cpu_rss(process.pid)[0]
    finally:
        stop(process)
        forget_session(hub.broker.port, client_id)


def drain(hub: Hub, backlog: Backlog, tree: Path, tuning: dict[str, object], label: str) -> Outcome:
    """Queue the backlog for a fresh session, start the ingest, time until all is stored."""
    folder, database, client_id = hub.prepare(tuning, label)
    prime_session(hub.broker.port, client_id)
    publisher = Publisher(hub.broker.port, f"bench-{client_id}")
    start = backlog.start()
    for topic, payload in backlog_messages(backlog, start):
        publisher.publish(topic, payload)
    publisher.wait_acked(backlog.messages)
    publisher.close()
    expected = expected_counts(backlog)
    spawned = time.monotonic()
    process = hub.spawn(tree, folder, database)
    profiler = profile(process.pid, folder) if hub.profile else None
    try:
        wait_for(lambda: connected(folder) or process.poll() is not None, 60, "the ingest")
        began = time.monotonic()
        services0 = hub.services_cpu()
        deadline = began + DONE_TIMEOUT_S
        # Batches land in the order the broker delivered them, so the backlog's last
        # reading is the last to land: watch for it with a cheap point query (counting
        # every reading every 50 ms would load InfluxDB more as the drain goes on), then
        # count all; if some are still missing, count until they are there.
        final = last_reading(backlog, start)
        while (
            not hub.count_watch
            and not hub.influx.has(database, final)
            and time.monotonic() < deadline
            and process.poll() is None
        ):
            time.sleep(0.01)

        def moment() -> tuple[float, float, float, float, float]:
            """(time, ingest CPU s, ingest peak RSS MB, InfluxDB CPU s, Mosquitto CPU s)."""
            at = time.monotonic()
            cpu, rss = proc_cpu_rss(process.pid) if process.poll() is None else (0.0, 0.0)
            influx_s, broker_s = hub.services_cpu()
            return at, cpu, rss, influx_s - services0[0], broker_s - services0[1]

        done, cpu_s, rss_mb, influx_cpu_s, broker_cpu_s = moment()
        found = hub.influx.counts(database)
        while found != expected and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
            found = hub.influx.counts(database)
            done, cpu_s, rss_mb, influx_cpu_s, broker_cpu_s = moment()
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        stop(process)
        forget_session(hub.broker.port, client_id)
    return Outcome(
        readings=backlog.readings,
        stored=sum(found.values()),
        dead=dead_letters(folder),
        drain_s=done - began,
        wall_s=done - spawned,
        cpu_s=cpu_s,
        startup_cpu_s=hub.startup_cpu[str(tree)],
        rss_mb=rss_mb,
        influx_cpu_s=influx_cpu_s,
        broker_cpu_s=broker_cpu_s,
    )


@dataclass
class Latency:
    """Probe latencies of one live run, in seconds."""

    lags: list[float]
    published: int
    stored: int
    rss_mb: float
    cpu_us: float


def live(hub: Hub, tree: Path, tuning: dict[str, object], seconds: float, rate: int) -> Latency:
    """Run the ingest, publish `rate` one-reading messages/s, time probes until queryable."""
    folder, database, client_id = hub.prepare(tuning, "live")
    process = hub.spawn(tree, folder, database)
    wait_for(lambda: connected(folder) or process.poll() is not None, 60, "the ingest")
    time.sleep(0.5)
    publisher = Publisher(hub.broker.port, f"bench-{client_id}")
    sent: dict[int, float] = {}  # probe ts in ms -> monotonic publish time
    seen: dict[int, float] = {}
    delivered: dict[int, float] = {}  # -> when the broker delivered it to a bare subscriber
    finished = threading.Event()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_probe(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        ts = json.loads(message.payload)["readings"][0]["ts"]
        ms = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
        delivered.setdefault(ms, time.monotonic())

    watcher.on_message = on_probe
    watcher.connect("127.0.0.1", hub.broker.port)
    watcher.subscribe(f"canteen/{SITES[0]}/probe/telemetry", qos=0)
    watcher.loop_start()

    def poll() -> None:
        while not (finished.is_set() and len(seen) == len(sent)):
            pending = [ms for ms in list(sent) if ms not in seen]
            if pending:
                rows = hub.influx.query(
                    database,
                    "SELECT celsius FROM temperature WHERE device = 'probe' "  # noqa: S608
                    f"AND time >= {min(pending)}ms",
                )
                now = time.monotonic()
                for row in (rows[0].get("series") or [{"values": []}])[0]["values"]:  # type: ignore[index]
                    ms = int(datetime.fromisoformat(row[0]).timestamp() * 1000)
                    seen.setdefault(ms, now)
            if finished.wait(0.02) and time.monotonic() > stop_at + 30:
                return

    stop_at = time.monotonic() + seconds
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    devices = 50
    start = datetime.now(UTC) - timedelta(minutes=1)
    tick, per_tick, n = 0.01, rate // 100, 0
    began = time.monotonic()
    cpu0 = proc_cpu_rss(process.pid)[0]
    while time.monotonic() < stop_at:
        for _ in range(per_tick):
            n += 1
            if n % 100 == 0:
                moment = datetime.now(UTC)
                ms = int(moment.timestamp() * 1000)
                payload = reading("temperature", "probe-1", format_ts(moment), n)
                topic = f"canteen/{SITES[0]}/probe/telemetry"
            else:
                device = n % devices
                kind = KINDS[(n // devices) % len(KINDS)]
                ts = format_ts(start + timedelta(milliseconds=n // devices))
                payload = reading(kind, SENSOR_OF[kind], ts, n)
                topic = f"canteen/{SITES[device % 3]}/pi-{device:04d}/telemetry"
            body = f'{{"v":1,"seq":{n},"sent":"{format_ts(start)}","readings":[{payload}]}}'
            if n % 100 == 0:
                sent[ms] = time.monotonic()
            publisher.publish(topic, body.encode())
        wait = began + (n // per_tick) * tick - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    finished.set()
    poller.join(40)
    publisher.wait_acked(n)
    wait_for(lambda: sum(hub.influx.counts(database).values()) >= n, 60, "the live readings")
    cpu_s, rss_mb = proc_cpu_rss(process.pid)
    stored = sum(hub.influx.counts(database).values())
    publisher.close()
    stop(process)
    forget_session(hub.broker.port, client_id)
    watcher.disconnect()
    watcher.loop_stop()
    lags = [seen[ms] - at for ms, at in sent.items() if ms in seen]
    slow = sorted(
        (seen[ms] - at, delivered.get(ms, float("nan")) - at, at - began)
        for ms, at in sent.items()
        if ms in seen
    )[-5:]
    print(
        "    slowest probes (lag s, of it the broker's, @ s into the run): "
        + ", ".join(f"{lag:.2f} ({via:.2f}) @ {when:.1f}" for lag, via, when in reversed(slow)),
        flush=True,
    )
    return Latency(lags, n, stored, rss_mb, 1e6 * (cpu_s - cpu0) / n)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def spread(values: list[float], fmt: str) -> str:
    """`median (min-max)` of some runs."""
    median = statistics.median(values)
    if len(values) == 1:
        return format(median, fmt)
    return f"{median:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller backlogs, one run")
    parser.add_argument("--runs", type=int, help="runs of each measurement (3; quick: 1)")
    parser.add_argument(
        "--only",
        action="append",
        choices=["drain", "replay", "spread", "live", "growth"],
        help="repeatable",
    )
    parser.add_argument("--tree", type=Path, help="run ingest/ + protocol/ from this tree")
    parser.add_argument("--compare", type=Path, help="another ingest/ + protocol/ tree to compare")
    parser.add_argument("--set", action="append", default=[], help="ingest setting key=value")
    parser.add_argument("--profile", action="store_true", help="py-spy each drain (--keep)")
    parser.add_argument(
        "--count-watch",
        action="store_true",
        help="watch a drain by counting all readings every 50 ms (the old way, to compare)",
    )
    parser.add_argument("--keep", type=Path, help="keep the services' folders and logs here")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="ingest-drain-") as workdir:
        return run(args, Path(workdir))


def run(args: argparse.Namespace, workdir: Path) -> int:
    """Start the services, run every measurement asked for, print the tables."""
    runs = args.runs or (1 if args.quick else 3)
    only = args.only or ["drain", "replay", "spread", "live", "growth"]
    tuning: dict[str, object] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        tuning[key] = json.loads(value)
    trees = {"current": (args.tree or ROOT).resolve()}
    if args.compare is not None:
        trees = {"compared": args.compare.resolve(), **trees}
    size = 5 if args.quick else 1
    backlogs = {
        "drain": [Backlog("drain, 50 devices, 1 reading/message", 50, 100_000 // size, 1)],
        "replay": [Backlog("replay, 50 devices, 500 readings/message", 50, 1000 // size, 500)],
        "spread": [
            Backlog(
                "replay, readings 3 s apart, no second shared", 50, 1000 // size, 500, 3000, True
            )
        ],
        "growth": [
            Backlog(f"growth, {d} devices, 1 reading/message", d, 50_000 // size, 1)
            for d in (10, 100, 1000)
        ],
    }
    broker = LocalMosquitto(workdir / "mosquitto", die_with_parent=True)
    database = LocalInfluxDB(workdir / "influxdb", die_with_parent=True)
    broker.start()
    database.start()
    hub = Hub(
        workdir,
        broker,
        Influx(database.url),
        database.url,
        database.pid,
        profile=args.profile,
        count_watch=args.count_watch,
    )
    lost = 0
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    try:
        for label, tree in trees.items():
            hub.startup_cpu[str(tree)] = statistics.median(
                startup_cpu(hub, tree, tuning) for _ in range(runs)
            )
            print(f"{label}: idle ingest start-up CPU {hub.startup_cpu[str(tree)]:.2f} s")
        rows = [
            "| backlog | tree | readings/s | drain s | wall s | RSS MB | CPU µs/reading "
            "| net CPU µs/reading | InfluxDB CPU µs/reading | Mosquitto CPU µs/reading "
            "| lost | dead |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        ratios: list[str] = []
        for name in ("drain", "replay", "spread", "growth"):
            if name not in only:
                continue
            for backlog in backlogs[name]:
                results: dict[str, list[Outcome]] = {label: [] for label in trees}
                for attempt in range(runs):
                    for label, tree in trees.items():
                        outcome = drain(hub, backlog, tree, tuning, label)
                        results[label].append(outcome)
                        lost += outcome.readings - outcome.stored + outcome.dead
                        print(
                            f"  {backlog.name} [{label} {attempt + 1}/{runs}]: {outcome.rate:,.0f}"
                            f" readings/s, {outcome.rss_mb:.1f} MB, {outcome.cpu_us:.1f} µs "
                            f"(net {outcome.net_cpu_us:.1f}; InfluxDB {outcome.influx_cpu_us:.1f}, "
                            f"Mosquitto {outcome.broker_cpu_us:.1f}), stored {outcome.stored:,}/"
                            f"{outcome.readings:,}, dead {outcome.dead}, "
                            f"load {os.getloadavg()[0]:.1f}",
                            flush=True,
                        )
                for label, outcomes in results.items():
                    rows.append(
                        f"| {backlog.name} | {label} "
                        f"| {spread([o.rate for o in outcomes], ',.0f')} "
                        f"| {spread([o.drain_s for o in outcomes], '.2f')} "
                        f"| {spread([o.wall_s for o in outcomes], '.2f')} "
                        f"| {spread([o.rss_mb for o in outcomes], '.1f')} "
                        f"| {spread([o.cpu_us for o in outcomes], '.1f')} "
                        f"| {spread([o.net_cpu_us for o in outcomes], '.1f')} "
                        f"| {spread([o.influx_cpu_us for o in outcomes], '.1f')} "
                        f"| {spread([o.broker_cpu_us for o in outcomes], '.1f')} "
                        f"| {sum(o.readings - o.stored for o in outcomes)} "
                        f"| {sum(o.dead for o in outcomes)} |"
                    )
                if "compared" in results:
                    new, old = results["current"], results["compared"]
                    rate = [n.rate / o.rate for n, o in zip(new, old, strict=True)]
                    cpu = [o.net_cpu_us / n.net_cpu_us for n, o in zip(new, old, strict=True)]
                    ratios.append(
                        f"| {backlog.name} | {spread(rate, '.2f')} | {spread(cpu, '.2f')} |"
                    )
        if "live" in only:
            seconds = 10.0 if args.quick else 30.0
            for label, tree in trees.items():
                latencies = [live(hub, tree, tuning, seconds, 1000) for _ in range(runs)]
                for o in latencies:
                    lost += o.published - o.stored
                p50 = [1000 * percentile(o.lags, 50) for o in latencies]
                p99 = [1000 * percentile(o.lags, 99) for o in latencies]
                print(
                    f"live 1,000 readings/s for {seconds:.0f} s [{label}]: probes "
                    f"{[len(o.lags) for o in latencies]}, p50 {spread(p50, '.0f')} ms, "
                    f"p99 {spread(p99, '.0f')} ms, "
                    f"RSS {spread([o.rss_mb for o in latencies], '.1f')} MB, "
                    f"CPU {spread([o.cpu_us for o in latencies], '.1f')} µs/reading, "
                    f"stored {[o.stored for o in latencies]} of {[o.published for o in latencies]}"
                )
        print()
        print("\n".join(rows))
        if ratios:
            print("\n| backlog | readings/s current ÷ compared | compared ÷ current net CPU |")
            print("|---|---|---|")
            print("\n".join(ratios))
        print(f"\nload average at the end: {os.getloadavg()}")
    finally:
        broker.stop()
        database.stop()
    if lost:
        print(f"LOST or dead-lettered: {lost} readings")
        return 1
    print("no reading lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
