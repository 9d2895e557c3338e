"""Live latency at 1,000 readings/s: publish → wall-screen client, and publish → InfluxDB.

    python bench/live_latency.py                 # 3 runs of 30 s
    python bench/live_latency.py --quick         # 1 run of 10 s: a look, not a figure
    python bench/live_latency.py --runs 1 --profile --keep live-run   # py-spy the dashboard

Each run starts a private Mosquitto and InfluxDB 1.x (canteen.local_services, free
loopback ports), the real ingest (`python -m canteen.cli ingest`) and the real dashboard
(`python -m canteen.cli dashboard`), each its own process, configured as
bench/hub_load.py does. A wall-screen client, in a process of its own, signs in the way
the kiosk TV does (`canteen kiosk-token`, the page's `?kiosk=` link, then the cookie)
and reads the site's event stream (`/api/sites/{site}/stream`) with plain http.client.

One QoS 1 publisher sends 1,000 one-reading messages/s from 50 devices over 5 sites, the
PROTOCOL.md mix (70 % temperature, 10 % each door, waste, occupancy), each reading
stamped with the time it is sent. The screen watches the first of those sites, so its
stream carries that site's 200 messages/s too. On the same site a device `probe` sends
probe temperatures (4 a second by default) with a unique timestamp, rotating over 16
sensors; the client notes when each probe's tile update arrives and a thread polls
InfluxDB every 20 ms until the probe is queryable. A bare MQTT subscriber notes when the
broker delivers each probe: the floor that the publisher and the broker set, so what the
hub adds shows apart. Every latency runs from just before the publish call to the
arrival, on the same machine's monotonic clock; with `--keep` each run's probes are in
`run-N/probes.json`. Exit status 1 if a probe never reaches the screen or InfluxDB
(within 30 s after the load ends).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub_load import kiosk_token, proc_sample, start_process  # noqa: E402
from ingest_drain import (  # noqa: E402
    KINDS,
    SENSOR_OF,
    Influx,
    Publisher,
    connected,
    percentile,
    profile,
    reading,
    stop,
    wait_for,
)

from canteen.local_services import LocalInfluxDB, LocalMosquitto, free_port  # noqa: E402
from protocol import format_ts  # noqa: E402
from protocol.models import EPOCH, ONE_MS  # noqa: E402

SITES = ("live-a", "live-b", "live-c", "live-d", "live-e")
SITE = SITES[0]  # the one the screen shows, and the probes' site
DEVICES = 50
RATE = 1000  # messages a second, one reading each
PROBE_SENSORS = 16
DATABASE = "canteen_live"
SETTLE_S = 30.0  # how long after the load a late probe may still arrive
FRAME_LINE = re.compile(r":\d+\)$")
SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads forked


def watch_screen(port: int, query: str, out: Any) -> None:
    """In its own process: open the site's stream as the kiosk does, report each probe."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/wall/{SITE}{query}")
    page = conn.getresponse()
    page.read()
    cookie = (page.getheader("Set-Cookie") or "").split(";")[0]
    if page.status != 200 or not cookie:
        out.put(("error", f"the wall page answered {page.status} without a kiosk cookie"))
        return
    conn.request(
        "GET",
        f"/api/sites/{SITE}/stream",
        headers={"Cookie": cookie, "Accept": "text/event-stream"},
    )
    stream = conn.getresponse()
    if stream.status != 200:
        out.put(("error", f"the stream answered {stream.status}"))
        return
    while line := stream.readline():
        arrived = time.monotonic()
        if line.startswith(b"event: snapshot"):
            out.put(("snapshot", 0, arrived))
        elif line.startswith(b"data:") and b'"device":"probe"' in line:
            for section in json.loads(line[5:]).get("sections", []):
                cold = section.get("cold")
                if cold and cold["device"] == "probe":
                    out.put(("probe", cold["ts_ms"], arrived))
    out.put(("closed", 0, time.monotonic()))


def watch_broker(port: int, out: Any) -> None:
    """In its own process: note when the broker delivers each probe (the path's floor)."""

    def delivered(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        arrived = time.monotonic()
        ts = json.loads(message.payload)["readings"][0]["ts"]
        out.put(("broker", round(datetime.fromisoformat(ts).timestamp() * 1000), arrived))

    client = mqtt.Client(CallbackAPIVersion.VERSION2, "live-latency-tap", protocol=mqtt.MQTTv5)
    client.on_message = delivered
    client.on_connect = lambda c, *_: c.subscribe(f"canteen/{SITE}/probe/telemetry", 0)
    client.connect("127.0.0.1", port)
    client.loop_forever()


@dataclass
class Probes:
    """Probe publish times and their arrivals at the screen and in InfluxDB (monotonic s)."""

    sent: dict[int, float]
    screen: dict[int, float]
    stored: dict[int, float]
    broker: dict[int, float]
    snapshot: threading.Event
    problem: str = ""
    last_ms: int = 0
    count: int = 0

    def publish(self, publisher: Publisher, seq: int) -> int:
        """Send one probe with a timestamp no other probe has; return it (epoch ms)."""
        ms = self.last_ms = max(int(time.time() * 1000), self.last_ms + 1)
        self.count += 1
        sensor = f"probe-{self.count % PROBE_SENSORS}"
        payload = reading("temperature", sensor, format_ts(EPOCH + ms * ONE_MS), seq)
        body = (
            f'{{"v":1,"seq":{seq},"sent":"{format_ts(datetime.now(UTC))}","readings":[{payload}]}}'
        )
        self.sent[ms] = time.monotonic()
        publisher.publish(f"canteen/{SITE}/probe/telemetry", body.encode())
        return ms

    def arrivals(self) -> tuple[dict[int, float], ...]:
        """Where probes arrive: the broker's delivery, the screen, InfluxDB."""
        return self.broker, self.screen, self.stored

    def lags_ms(self, sent: dict[int, float], arrivals: dict[int, float]) -> list[float]:
        """Publish → arrival of each probe that arrived, in ms."""
        return [1000 * (arrivals[ms] - at) for ms, at in sent.items() if ms in arrivals]

    def beyond_broker_ms(self, sent: dict[int, float], arrivals: dict[int, float]) -> list[float]:
        """Broker delivery → arrival of each probe seen at both, in ms: the hub's own share."""
        both = [ms for ms in sent if ms in arrivals and ms in self.broker]
        return [1000 * (arrivals[ms] - self.broker[ms]) for ms in both]

    def save(self, path: Path, sent: dict[int, float]) -> None:
        """Each probe's [ts ms, s since the first, broker, screen, InfluxDB ms] (null: lost)."""
        first = min(sent.values(), default=0.0)
        rows = [
            [ms, round(at - first, 3), *(_ms(d.get(ms), at) for d in self.arrivals())]
            for ms, at in sorted(sent.items())
        ]
        path.write_text(json.dumps(rows), encoding="utf-8")

    def collect(self, queue: Any) -> None:
        """Take the screen process's reports until it closes."""
        while True:
            what, ms, arrived = queue.get()
            if what == "snapshot":
                self.snapshot.set()
            elif what == "probe":
                self.screen.setdefault(ms, arrived)
            elif what == "broker":
                self.broker.setdefault(ms, arrived)
            else:
                self.problem = self.problem or f"screen stream {what}: {ms}"
                self.snapshot.set()
                return

    def poll_influx(self, influx: Influx, done: threading.Event) -> None:
        """Every 20 ms, look for the probes InfluxDB does not answer with yet."""
        while not done.wait(0.02):
            pending = [ms for ms in list(self.sent) if ms not in self.stored]
            if not pending:
                continue
            rows = influx.query(
                DATABASE,
                "SELECT celsius FROM temperature WHERE device = 'probe' "  # noqa: S608
                f"AND time >= {min(pending)}ms",
            )
            now = time.monotonic()
            for row in (rows[0].get("series") or [{"values": []}])[0]["values"]:  # type: ignore[index]
                self.stored.setdefault(
                    round(datetime.fromisoformat(row[0]).timestamp() * 1000), now
                )


def _ms(arrived: float | None, at: float) -> float | None:
    return None if arrived is None else round(1000 * (arrived - at), 1)


def load_message(n: int, now: datetime) -> tuple[str, bytes]:
    """The n-th load message: device n mod 50, the kinds in PROTOCOL.md's mix, ts now."""
    device = n % DEVICES
    kind = KINDS[(n // DEVICES) % len(KINDS)]
    payload = reading(kind, SENSOR_OF[kind], format_ts(now), n)
    body = f'{{"v":1,"seq":{n},"sent":"{format_ts(now)}","readings":[{payload}]}}'
    return f"canteen/{SITES[device % len(SITES)]}/pi-{device:04d}/telemetry", body.encode()


def publish_load(publisher: Publisher, probes: Probes, seconds: float, probe_rate: float) -> float:
    """1,000 messages/s in 10 ms ticks, a probe every 1/probe_rate s; return the worst slip."""
    began, slip, n = time.monotonic(), 0.0, 0
    next_probe = began
    for tick in range(int(seconds * 100)):
        wait = began + tick / 100 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        slip = max(slip, -wait)
        now = datetime.now(UTC)
        for _ in range(RATE // 100):
            n += 1
            publisher.publish(*load_message(n, now))
        if time.monotonic() >= next_probe:
            probes.publish(publisher, n)
            next_probe += 1 / probe_rate
    return slip


@dataclass
class Run:
    """One run's figures: latencies in ms, and what the machine did meanwhile."""

    broker_ms: list[float]
    screen_ms: list[float]
    stored_ms: list[float]
    screen_hub_ms: list[float]
    stored_hub_ms: list[float]
    probes: int
    slip_ms: float
    load: tuple[float, float, float]
    cpu_pct: dict[str, float]
    dashboard_us: float
    problem: str


@dataclass
class Hub:
    """One run's private services and hub processes, and the screen client."""

    folder: Path
    broker: LocalMosquitto
    database: LocalInfluxDB
    ingest: subprocess.Popen[bytes]
    dashboard: subprocess.Popen[bytes]
    screen: Any  # multiprocessing Processes: the wall-screen client
    tap: Any  # and the broker's delivery

    def pids(self) -> dict[str, int]:
        """The processes whose CPU is sampled."""
        return {
            "dashboard": self.dashboard.pid,
            "ingest": self.ingest.pid,
            "broker": self.broker.pid or 0,
            "influxd": self.database.pid or 0,
            "publisher": os.getpid(),
        }


def hub_env(folder: Path, broker: LocalMosquitto, influx: LocalInfluxDB) -> dict[str, str]:
    """The environment the hub's processes read their settings from."""
    return {
        **os.environ,
        "CANTEEN_MQTT_URL": broker.url,
        "CANTEEN_INFLUX_URL": influx.url,
        "CANTEEN_INFLUX_DB": DATABASE,
        "CANTEEN_STATE_DIR": str(folder / "state"),
        "CANTEEN_SITE": SITE,
        "PYTHONPATH": str(ROOT),
    }


def one_run(folder: Path, seconds: float, probe_rate: float, spy: bool) -> Run:
    """Private services and hub processes, the screen client, the load; the run's figures."""
    broker = LocalMosquitto(folder / "mosquitto", die_with_parent=True)
    database = LocalInfluxDB(folder / "influxdb", die_with_parent=True)
    broker.start()
    database.start()
    try:
        Influx(database.url).create(DATABASE)
        env, port = hub_env(folder, broker, database), free_port()
        query = kiosk_token(env, SITE)
        if not query:
            raise SystemExit("`canteen kiosk-token` made no token")
        queue = SPAWN.Queue()
        hub = Hub(
            folder,
            broker,
            database,
            start_process(["ingest"], env, folder / "ingest.log"),
            start_process(["dashboard", "--port", str(port)], env, folder / "dashboard.log"),
            SPAWN.Process(target=watch_screen, args=(port, query, queue), daemon=True),
            SPAWN.Process(target=watch_broker, args=(broker.port, queue), daemon=True),
        )
        try:
            return measure(hub, port, queue, (seconds, probe_rate), spy)
        finally:
            for watcher in (hub.screen, hub.tap):
                if watcher.is_alive():
                    watcher.terminate()
            stop(hub.dashboard)
            stop(hub.ingest)
    finally:
        broker.stop()
        database.stop()


def measure(hub: Hub, port: int, queue: Any, pace: tuple[float, float], spy: bool) -> Run:
    """Wait for the hub, check a first probe end to end, then time the load's probes."""
    wait_for(lambda: connected(hub.folder) or hub.ingest.poll() is not None, 60, "the ingest")
    wait_for(lambda: _listens(port) or hub.dashboard.poll() is not None, 60, "the dashboard")
    probes, done = Probes({}, {}, {}, {}, threading.Event()), threading.Event()
    hub.screen.start()
    hub.tap.start()
    threading.Thread(target=probes.collect, args=(queue,), daemon=True).start()
    if not probes.snapshot.wait(60) or probes.problem:
        raise SystemExit(f"no snapshot on the screen's stream: {probes.problem or 'timeout'}")
    influx = Influx(hub.database.url)
    threading.Thread(target=probes.poll_influx, args=(influx, done), daemon=True).start()
    publisher = Publisher(hub.broker.port, "live-latency-load")
    try:
        warm = probes.publish(publisher, 1)  # the whole path works before the clock starts
        arrived = probes.arrivals()
        wait_for(lambda: all(warm in where for where in arrived), 60, "a first probe")
        probes.sent.clear()
        pids = hub.pids()
        cpu0, began = {k: proc_sample(p)[1] for k, p in pids.items()}, time.monotonic()
        profiler = profile(hub.dashboard.pid, hub.folder) if spy else None
        slip = publish_load(publisher, probes, *pace)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        elapsed = time.monotonic() - began
        cpu = {k: 100 * (proc_sample(p)[1] - cpu0[k]) / elapsed for k, p in pids.items()}
        load = os.getloadavg()
        sent = dict(probes.sent)
        wait_until(lambda: sent.keys() <= probes.screen.keys() & probes.stored.keys(), SETTLE_S)
        dashboard_cpu = proc_sample(hub.dashboard.pid)[1] - cpu0["dashboard"]
    finally:
        done.set()
        publisher.close()
    probes.save(hub.folder / "probes.json", sent)
    return Run(
        broker_ms=probes.lags_ms(sent, probes.broker),
        screen_ms=probes.lags_ms(sent, probes.screen),
        stored_ms=probes.lags_ms(sent, probes.stored),
        screen_hub_ms=probes.beyond_broker_ms(sent, probes.screen),
        stored_hub_ms=probes.beyond_broker_ms(sent, probes.stored),
        probes=len(sent),
        slip_ms=1000 * slip,
        load=load,
        cpu_pct=cpu,
        dashboard_us=1e6 * dashboard_cpu / (publisher.sent - 1),
        problem=probes.problem,
    )


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll a condition until it holds or the time is up (lost probes are counted later)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _listens(port: int) -> bool:
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
    except OSError:
        return False
    return True


def top_frames(path: Path, count: int = 12) -> list[str]:
    """Table rows of a py-spy raw profile: each thread's share, then the busiest functions."""
    threads: Counter[str] = Counter()
    within: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, samples = line.rpartition(" ")
        thread, *frames = stack.split(";")
        n = int(samples)
        threads[thread.partition(": ")[2] or thread] += n
        names = [FRAME_LINE.sub(")", frame) for frame in frames]  # one row a function
        for name in set(names):
            within[name] += n
        if names:
            own[names[-1]] += n
    total = sum(threads.values()) or 1

    def rows(counts: Counter[str], what: str) -> list[str]:
        head = [f"| {what} | share of samples |", "|---|---|"]
        return head + [f"| `{k}` | {100 * n / total:.1f} % |" for k, n in counts.most_common(count)]

    return [
        *rows(threads, "thread"),
        "",
        *rows(within, "function (inclusive)"),
        "",
        *rows(own, "function (self)"),
    ]


def figures(values: list[float]) -> str:
    """`p50 / p99 / max` in ms, or a dash without values."""
    if not values:
        return "-"
    return f"{percentile(values, 50):.0f} / {percentile(values, 99):.0f} / {max(values):.0f}"


def p99(values: list[float]) -> str:
    """The 99th percentile in ms, or a dash without values."""
    return f"{percentile(values, 99):.0f}" if values else "-"


def report(runs: list[Run]) -> int:
    """Print the tables; return 1 if a probe was lost on the way to the screen or InfluxDB."""
    print(
        "\n| run | probes | screen p50 / p99 / max ms | InfluxDB p50 / p99 / max ms "
        "| broker delivery p50 / p99 / max ms | after the broker: screen, InfluxDB p99 ms "
        "| lost screen / InfluxDB |"
    )
    print("|---|---|---|---|---|---|---|")
    lost = 0
    for index, run in enumerate([*runs, pooled(runs)] if len(runs) > 1 else runs, 1):
        gone = (run.probes - len(run.screen_ms), run.probes - len(run.stored_ms))
        lost += sum(gone) if index <= len(runs) else 0
        print(
            f"| {index if index <= len(runs) else 'all'} | {run.probes} "
            f"| {figures(run.screen_ms)} | {figures(run.stored_ms)} | {figures(run.broker_ms)} "
            f"| {p99(run.screen_hub_ms)}, {p99(run.stored_hub_ms)} | {gone[0]} / {gone[1]} |"
        )
    print(
        "\n| run | CPU % during the load: dashboard / ingest / broker / influxd / publisher "
        "| dashboard CPU µs a message | publisher behind schedule ms | load average 1/5/15 |"
    )
    print("|---|---|---|---|---|")
    for index, run in enumerate(runs, 1):
        print(
            f"| {index} | {' / '.join(f'{c:.0f}' for c in run.cpu_pct.values())} "
            f"| {run.dashboard_us:.0f} | {run.slip_ms:.0f} "
            f"| {' '.join(f'{x:.1f}' for x in run.load)} |"
        )
    for run in runs:
        if run.problem:
            print(f"problem: {run.problem}")
    print(f"\nload average at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")
    if lost:
        print(f"LOST: {lost} probe arrivals never came")
        return 1
    return 0


def pooled(runs: list[Run]) -> Run:
    """All runs' probes together (the machine figures are left out)."""
    return Run(
        broker_ms=[ms for run in runs for ms in run.broker_ms],
        screen_ms=[ms for run in runs for ms in run.screen_ms],
        stored_ms=[ms for run in runs for ms in run.stored_ms],
        screen_hub_ms=[ms for run in runs for ms in run.screen_hub_ms],
        stored_hub_ms=[ms for run in runs for ms in run.stored_hub_ms],
        probes=sum(run.probes for run in runs),
        slip_ms=0.0,
        load=(0.0, 0.0, 0.0),
        cpu_pct={},
        dashboard_us=0.0,
        problem="",
    )


def main() -> int:
    """Run the benchmark, print the table, exit 1 if a probe was lost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of 10 s")
    parser.add_argument("--runs", type=int, help="how many runs (3; quick: 1)")
    parser.add_argument("--seconds", type=float, help="load per run (30; quick: 10)")
    parser.add_argument("--probes-per-s", type=float, default=4.0, help="probe rate (4)")
    parser.add_argument("--profile", action="store_true", help="py-spy the dashboard (--keep)")
    parser.add_argument("--keep", type=Path, help="keep the services' folders and logs here")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="live-latency-") as scratch:
        workdir = args.keep or Path(scratch)
        results = []
        for index in range(1, runs + 1):
            folder = workdir / f"run-{index}"
            folder.mkdir(parents=True)
            print(f"run {index}/{runs}: {RATE:,} messages/s for {seconds:.0f} s", flush=True)
            results.append(one_run(folder, seconds, args.probes_per_s, args.profile))
            if args.profile and (folder / "profile.txt").exists():
                print(f"dashboard profile, run {index}:")
                print("\n".join(top_frames(folder / "profile.txt")))
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
