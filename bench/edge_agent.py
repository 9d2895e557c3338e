"""Edge agent benchmark: memory and CPU per reading of a fridge node, and outbox replay rate.

    python bench/edge_agent.py                # 60 s live run + a 24-hour backlog replay
    python bench/edge_agent.py --quick        # 15 s live run + a 1-hour backlog
    python bench/edge_agent.py --live-only --runs 3                        # memory, CPU
    python bench/edge_agent.py --live-only --interval 30 --seconds 300     # usual interval
    python bench/edge_agent.py --live-only --node fridge                   # doors, alarm
    python bench/edge_agent.py --live-only --tree ../other-checkout        # another tree
    python bench/edge_agent.py --live-only --pi-venv     # installed with only [edge], as on a Pi

Live: one agent process with 8 DS18B20 probes (the real driver, on a temporary 1-Wire
sysfs tree) read every `--interval` seconds (1 by default), publishing to a private
Mosquitto; its peak resident memory (VmHWM) and CPU time per reading (after a 5 s
warm-up) come from /proc. `--node fridge` runs the example fridge node instead: 3
probes, 3 door switches and the local alarm, its pins on gpiozero's MockFactory.
`--runs` starts a fresh agent for each run; the load average is printed with each.
`--tree` runs the agent of another checkout (e.g. a `git worktree` of an older commit)
with this harness, so before and after can be interleaved.
Replay: an outbox
holding a 24-hour backlog of those 8 probes (691,200 readings) drains to the broker
at the default rate (20 messages/s of 500 readings) and at the highest allowed
(1,000 messages/s); the rate is what a subscriber received.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    from edge.build import BuildContext
    from edge.config import load_config
    from edge.drivers import utc_now
    from canteen.cli import build_parser
    try:  # load what `canteen edge` loads before it runs the agent
        build_parser("edge")
    except TypeError:  # a tree from before build_parser(command)
        build_parser()
    config = load_config(sys.argv[1])
    pins = None
    if sys.argv[3] == "mock":  # only a node with pins loads gpiozero, as on a Pi
        from gpiozero.pins.mock import MockFactory
        pins = MockFactory()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    context = BuildContext(site=config.site, device=config.device, clock=utc_now,
                           w1_root=Path(sys.argv[2]), pin_factory=pins)
    run_device(config, config.mqtt_settings(), context, stop)
    """
)
FRIDGE_NODE = """\
  - {type: door, sensor: probe-0, pin: 17}
  - {type: door, sensor: probe-1, pin: 27}
  - {type: door, sensor: probe-2, pin: 22}
  - type: alarm
    buzzer_pin: 23
    led_pin: 24
    silence_pin: 25
    units:
      - {sensor: probe-0, min_c: 0, max_c: 8}
      - {sensor: probe-1, min_c: 0, max_c: 8}
      - {sensor: probe-2, min_c: -30, max_c: -12}
"""


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


class Node:
    """What the live agent reads: 8 probes, or the fridge node; where its code is.

    `python` is the interpreter of a virtual environment the tree is installed in (as on a
    Pi); None runs the tree's source with this benchmark's own interpreter.
    """

    def __init__(
        self, name: str, interval_s: float, tree: Path, python: Path | None = None
    ) -> None:
        self.name, self.interval_s, self.tree, self.python = name, interval_s, tree, python


def _config(path: Path, site: str, port: int, state: Path, rate: float, node: Node) -> None:
    probes = PROBES if node.name == "probes" else 3
    sensors = "\n".join(
        f"  - {{type: ds18b20, sensor: probe-{n}, address: 28-00000000000{n}, "
        f"interval_s: {node.interval_s:g}}}"
        for n in range(probes)
    )
    extra = FRIDGE_NODE if node.name == "fridge" else ""
    path.write_text(
        f"site: {site}\ndevice: cold-room\nmqtt_url: mqtt://127.0.0.1:{port}\n"
        f"state_dir: {state}\nreplay_messages_per_s: {rate}\n"
        # a day of 8 probes at 1/s is 691,200 readings: more than the default 500,000
        f"outbox_max_readings: 1000000\nsensors:\n{sensors}\n{extra}",
        encoding="utf-8",
    )


def _compile(tree: Path) -> None:
    """Byte-compile the agent's packages, as `pip install .[edge]` does on a Pi.

    Otherwise each start compiles them from source (this environment may forbid writing
    bytecode), which a Pi's agent never does, and which costs memory.
    """
    packages = [str(tree / name) for name in ("canteen", "edge", "protocol")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)


def _pi_venv(tree: Path, work: Path) -> Path:
    """A virtual environment with `tree` installed as a Pi has it: `pip install .[edge]`.

    No hub, camera or test packages, and the project byte-compiled by pip, as
    firmware_config/README.md installs it. Returns its interpreter.
    """
    venv = work / "pi-venv"
    print(f"making a virtual environment with only {tree}[edge] in it...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
    subprocess.run([*install, f"{tree}[edge]"], check=True)
    shutil.rmtree(tree / "build" / "lib", ignore_errors=True)  # setuptools' copy, in the tree
    return python


def _start_agent(
    work: Path, site: str, port: int, rate: float, node: Node
) -> subprocess.Popen[bytes]:
    w1 = work / "w1"
    for n in range(PROBES):
        (w1 / f"28-00000000000{n}").mkdir(parents=True, exist_ok=True)
        (w1 / f"28-00000000000{n}" / "w1_slave").write_text(W1_TEXT, encoding="ascii")
    config = work / f"{site}.yaml"
    _config(config, site, port, work / site, rate, node)
    pins = "mock" if node.name == "fridge" else "none"
    if node.python is not None:  # the installed package, not the tree's source
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.Popen(
            [str(node.python), "-c", AGENT, str(config), str(w1), pins], cwd=work, env=env
        )
    return subprocess.Popen(
        [sys.executable, "-c", AGENT, str(config), str(w1), pins],
        cwd=node.tree,
        env={**os.environ, "PYTHONPATH": str(node.tree)},
    )


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def live(work: Path, port: int, seconds: float, node: Node, run: int) -> dict[str, Any]:
    """Run the agent for `seconds`; return readings, CPU per reading, peak RSS and load."""
    site = f"bench-live-{run}"
    counter = Counter(port, site)
    load_before = _load()
    agent = _start_agent(work, site, port, 20, node)
    try:
        time.sleep(WARM_UP_S)  # start-up (imports, connecting) is not per-reading cost
        cpu_before, _ = _proc(agent.pid)
        readings_before = counter.readings
        started = time.monotonic()
        deadline = started + seconds
        while time.monotonic() < deadline:
            time.sleep(min(5.0, max(deadline - time.monotonic(), 0.0)))
            print(f"  live {run}: {counter.readings} readings so far", flush=True)
        cpu, hwm = _proc(agent.pid)
        elapsed = time.monotonic() - started
        readings = counter.readings - readings_before
    finally:
        agent.terminate()
        agent.wait(30)
        counter.close()
    return {
        "readings": readings,
        "cpu_us_per_reading": (cpu - cpu_before) * 1e6 / max(readings, 1),
        "cpu_share": (cpu - cpu_before) / elapsed,
        "peak_rss_mb": hwm / 1024,
        "load": f"{load_before} → {_load()}",
    }


def replay(
    work: Path, port: int, hours: float, rate: float, label: str, node: Node
) -> dict[str, float]:
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
    agent = _start_agent(work, site, port, rate, node)
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


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run for a smoke test")
    parser.add_argument("--live-only", action="store_true", help="skip the backlog replays")
    parser.add_argument("--runs", type=int, default=1, help="live runs, a fresh agent each")
    parser.add_argument("--seconds", type=float, help="length of a live run (60; 15 quick)")
    parser.add_argument("--interval", type=float, default=1.0, help="probe interval (s)")
    parser.add_argument(
        "--node", choices=("probes", "fridge"), default="probes", help="what the agent reads"
    )
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose agent runs")
    parser.add_argument(
        "--pi-venv",
        action="store_true",
        help="run the agent installed with only the edge extra in a new venv, as on a Pi",
    )
    return parser.parse_args()


def _print_live(runs: list[dict[str, Any]], seconds: float, node: Node) -> None:
    what = (
        f"{PROBES} probes every {node.interval_s:g} s"
        if node.name == "probes"
        else f"fridge node: 3 probes every {node.interval_s:g} s, 3 doors, alarm"
    )
    where = " (installed with only the edge extra)" if node.python else ""
    print(f"\nagent: {node.tree}{where}; {what}; {seconds:.0f} s a run\n")
    print("| run | readings | CPU per reading | agent CPU | peak RSS (VmHWM) | load average |")
    print("|---|---|---|---|---|---|")
    for n, run in enumerate(runs, 1):
        print(
            f"| {n} | {run['readings']} | {run['cpu_us_per_reading']:,.0f} µs "
            f"| {run['cpu_share']:.2%} of a core | {run['peak_rss_mb']:.1f} MB | {run['load']} |"
        )
    if len(runs) > 1:
        for key, unit in (("cpu_us_per_reading", "µs"), ("peak_rss_mb", "MB")):
            values = [run[key] for run in runs]
            print(
                f"{key}: median {statistics.median(values):,.1f} {unit}, "
                f"range {min(values):,.1f}-{max(values):,.1f}"
            )


def main() -> int:
    """Run the benchmark and print markdown tables."""
    args = _arguments()
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    hours = 1.0 if args.quick else 24.0
    node = Node(args.node, args.interval, args.tree.resolve())
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        work = Path(tmp)
        if args.pi_venv:
            node.python = _pi_venv(node.tree, work)  # pip compiles what it installs
        else:
            _compile(node.tree)
        broker = LocalMosquitto(work / "mosquitto")
        broker.start()
        try:
            runs = [live(work, broker.port, seconds, node, n) for n in range(1, args.runs + 1)]
            if not args.live_only:
                probes = Node("probes", 1.0, node.tree, node.python)
                default = replay(work, broker.port, hours, 20, "default", probes)
                fastest = replay(work, broker.port, hours, 1000, "max", probes)
        finally:
            broker.stop()
    _print_live(runs, seconds, node)
    if args.live_only:
        return 0
    print("\n| replay | value |")
    print("|---|---|")
    for name, run in (("20 msg/s (default)", default), ("1,000 msg/s", fastest)):
        print(
            f"| {hours:.0f} h backlog, {name} | {run['readings']:.0f} readings in "
            f"{run['seconds']:.1f} s = {run['per_s']:,.0f} readings/s |"
        )
    total = int(hours * 3600) * PROBES
    return 1 if default["readings"] < total or fastest["readings"] < total else 0


if __name__ == "__main__":
    raise SystemExit(main())
