"""The moving parts of the fault-injection scenarios: edge agents, the ingest, the hub's view.

- `GeneratedSource`: a sensor producing numbered temperature readings as fast as told,
  each with its own millisecond (so every reading is its own InfluxDB point), reporting
  every reading it returns to a sink: the scenario's record of what was produced.
- `EdgeDevice`: the real edge agent (Agent, Outbox, MqttLink) in a thread of the test.
- `EdgeProcess`: the same agent as a subprocess (`tests/reliability/edge_process.py`), for
  SIGKILL; it appends what it produces to a file.
- `IngestProcess`: `python -m canteen.cli ingest` as a subprocess, for SIGKILL and RSS.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from canteen.settings import InfluxSettings
from edge.agent import Agent, utc_now
from edge.clock_trust import ClockTrust
from edge.config import EdgeConfig
from edge.mqtt_link import Birth, MqttLink, OnConfig, OnDelivery
from edge.outbox import Outbox
from protocol import Reading, TemperatureReading, epoch_ms, format_ts
from tests.reliability.checker import Key
from timeseries import InfluxQL, quote_literal

REPO = Path(__file__).resolve().parents[2]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Sink = Callable[[int, list[Reading]], None]


def value_of(run: int, index: int) -> float:
    """The value of a run's `index`-th reading: a run's values never meet another's."""
    return round(run * 20 + (index % 1000) / 100, 2)


class GeneratedSource:
    """Up to `limit` temperature readings, `per_poll` a poll, one millisecond apart or more."""

    def __init__(
        self, name: str, per_poll: int, interval_s: float, limit: int, sink: Sink, run: int = 1
    ) -> None:
        self.name, self.interval_s = name, interval_s
        self.per_poll, self.limit, self.run = per_poll, limit, run
        self.enabled = threading.Event()
        self.enabled.set()
        self.count = self.polls = 0
        self._last_ms = 0
        self._sink = sink

    @property
    def done(self) -> bool:
        """Whether all `limit` readings were produced."""
        return self.count >= self.limit

    def poll(self, now: datetime) -> list[Reading]:
        """The next readings, stamped with `now` (the agent's clock) or just after."""
        if not self.enabled.is_set() or self.done:
            return []
        readings: list[Reading] = []
        for _ in range(min(self.per_poll, self.limit - self.count)):
            self._last_ms = max(epoch_ms(now), self._last_ms + 1)
            ts = EPOCH + timedelta(milliseconds=self._last_ms)
            value = value_of(self.run, self.count)
            readings.append(TemperatureReading(sensor=self.name, ts=ts, celsius=value))
            self.count += 1
        self.polls += 1
        self._sink(self.polls, readings)
        return readings

    def close(self) -> None:
        """Nothing to release."""


class RecordingLink:
    """The real MqttLink, noting how many readings each telemetry message carried."""

    def __init__(self, link: MqttLink) -> None:
        self.link = link
        self.batch_sizes: list[int] = []

    def connect(
        self, birth: Birth, on_delivery: OnDelivery, on_config: OnConfig | None = None
    ) -> None:
        self.link.connect(birth, on_delivery, on_config)

    def is_connected(self) -> bool:
        return self.link.is_connected()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        if topic.endswith("/telemetry"):
            self.batch_sizes.append(len(json.loads(payload)["readings"]))
        return self.link.publish(topic, payload, qos=qos, retain=retain)

    def close(self) -> None:
        self.link.close()


def edge_config(site: str, device: str, mqtt_url: str, state_dir: Path, **extra: Any) -> EdgeConfig:
    """A device config (its one listed sensor is unused: the generated source replaces it)."""
    return EdgeConfig.model_validate(
        {
            "site": site,
            "device": device,
            "mqtt_url": mqtt_url,
            "state_dir": state_dir,
            "sensors": [{"type": "simulated-cold-unit", "name": "unused"}],
            **extra,
        }
    )


def trusting_clock() -> ClockTrust:
    """A clock trusted at once (the container cannot say whether NTP set it)."""
    return ClockTrust(lambda: None, "reliability-boot")


class EdgeDevice:
    """One edge agent, real code, in a thread: generated readings in, MQTT out."""

    def __init__(
        self,
        config: EdgeConfig,
        per_poll: int,
        limit: int,
        interval_s: float = 0.05,
        clock_offset: timedelta = timedelta(0),
    ) -> None:
        self.config = config
        self.produced: dict[Key, float] = {}
        self.source = GeneratedSource("gen-1", per_poll, interval_s, limit, self._record)
        self.outbox = Outbox(config.state_dir / "outbox.sqlite3", config.outbox_max_readings)
        self.link = RecordingLink(MqttLink(config.mqtt_settings(), config.site, config.device))
        self.agent = Agent(
            config,
            [self.source],
            self.outbox,
            self.link,
            lambda: utc_now() + clock_offset,
            clock_trust=trusting_clock(),
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.agent.run, args=(self._stop,), daemon=True)

    def _record(self, _poll: int, readings: list[Reading]) -> None:
        site, device = self.config.site, self.config.device
        for r in readings:
            assert isinstance(r, TemperatureReading)
            self.produced[(site, device, r.sensor, epoch_ms(r.ts))] = r.celsius

    def start(self) -> EdgeDevice:
        self._thread.start()
        return self

    def drained(self) -> bool:
        """Whether every reading was produced and the broker acknowledged all of them."""
        return self.source.done and self.outbox.backlog() == 0 and not self.agent.outgoing

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(10)
        self.link.close()
        self.outbox.close()


EDGE_YAML = """
site: {site}
device: {device}
mqtt_url: {url}
state_dir: {state}
replay_messages_per_s: 200
sensors:
  - {{type: simulated-cold-unit, name: unused}}
"""


class EdgeProcess:
    """The edge agent as a subprocess that SIGKILL really kills; runs are numbered."""

    def __init__(self, workdir: Path, site: str, device: str, mqtt_url: str) -> None:
        self.workdir, self.site, self.device = workdir, site, device
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "edge.yaml"
        self.config.write_text(
            EDGE_YAML.format(site=site, device=device, url=mqtt_url, state=workdir / "state")
        )
        self.produced_log = workdir / "produced.tsv"
        self.outbox = workdir / "state" / "outbox.sqlite3"
        self.log = workdir / "edge.log"
        self.run = 0
        self.killed_runs: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, per_poll: int, limit: int, interval_s: float = 0.05) -> None:
        self.run += 1
        command = [
            sys.executable,
            "-m",
            "tests.reliability.edge_process",
            "--config",
            str(self.config),
            "--produced",
            str(self.produced_log),
            "--run",
            str(self.run),
            "--per-poll",
            str(per_poll),
            "--limit",
            str(limit),
            "--interval",
            str(interval_s),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANTEEN_")}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.killed_runs.append(self.run)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(15) == 0, self.log.read_text()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def _lines(self) -> list[list[str]]:
        if not self.produced_log.exists():
            return []
        text = self.produced_log.read_text()
        # a SIGKILL may tear the last line: keep only whole ones
        return [line.split("\t") for line in text.splitlines() if line.count("\t") == 4]

    def produced_in_run(self, run: int) -> int:
        return sum(1 for fields in self._lines() if int(fields[0]) == run)

    def produced(self) -> tuple[dict[Key, float], set[Key]]:
        """Every reading produced, and those of a killed run's final poll (maybe unkept)."""
        produced: dict[Key, float] = {}
        last_poll: dict[int, int] = {}
        polls: dict[Key, tuple[int, int]] = {}
        for run, poll, sensor, ts_ms, value in self._lines():
            key = (self.site, self.device, sensor, int(ts_ms))
            produced[key] = float(value)
            polls[key] = (int(run), int(poll))
            last_poll[int(run)] = max(last_poll.get(int(run), 0), int(poll))
        final = {
            key
            for key, (run, poll) in polls.items()
            if run in self.killed_runs and poll == last_poll[run]
        }
        return produced, final

    def backlog(self) -> int:
        """Readings in the outbox file: pending or in unacknowledged messages."""
        db = sqlite3.connect(self.outbox)
        try:
            (pending,) = db.execute("SELECT count(*) FROM pending").fetchone()
            (unacked,) = db.execute(
                "SELECT coalesce(sum(readings), 0) FROM messages WHERE acked = 0"
            ).fetchone()
        finally:
            db.close()
        return int(pending) + int(unacked)


class IngestProcess:
    """`python -m canteen.cli ingest` with its own hub YAML and state folder."""

    def __init__(self, workdir: Path, mqtt_url: str, influx: InfluxSettings, **tuning: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = workdir / "state"
        self.config = workdir / "hub.yaml"
        document = {
            "mqtt_url": mqtt_url,
            "influx": {"url": influx.url, "database": influx.database, "api": "v1"},
            "state_dir": str(self.state_dir),
            "ingest": tuning,
        }
        self.config.write_text(yaml.safe_dump(document))
        self.log = workdir / "ingest.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def hub_db(self) -> Path:
        return self.state_dir / "hub.sqlite3"

    def start(self) -> IngestProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANTEEN_")}
        command = [sys.executable, "-m", "canteen.cli", "ingest", "--config", str(self.config)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(20)

    def rss_mb(self) -> float:
        """The process's resident memory now, in MB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc status")


class Hub:
    """The test's view of the hub: is the pipeline live, what did InfluxDB store."""

    def __init__(self, mqtt_host: str, mqtt_port: int, influx: InfluxSettings) -> None:
        self.host, self.port = mqtt_host, mqtt_port
        self.influxql = InfluxQL(influx)
        self._probes = 0

    def _probe(self, site: str) -> bool:
        """Publish a status under `{site}-probe` and tell whether an earlier one landed."""
        probe_site = f"{site}-probe"
        rows = self.influxql.rows(
            f"SELECT count(online) FROM device_status WHERE site = {quote_literal(probe_site)}"  # noqa: S608
        )
        if rows and rows[0].get("count"):
            return True
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        try:
            client.connect(self.host, self.port)
            client.loop_start()
            self._probes += 1
            payload = {"v": 1, "online": True, "ts": format_ts(utc_now())}
            info = client.publish(f"canteen/{probe_site}/hub/status", json.dumps(payload), qos=1)
            info.wait_for_publish(5)
            client.disconnect()
            client.loop_stop()
        except OSError:
            pass
        return False

    def wait_live(self, site: str, timeout: float = 30) -> None:
        """Wait until a message published now goes all the way into InfluxDB."""
        self.influxql.query(
            f"DELETE FROM device_status WHERE site = {quote_literal(site + '-probe')}"  # noqa: S608
        )
        deadline = time.monotonic() + timeout
        while not self._probe(site):
            assert time.monotonic() < deadline, f"the ingest did not store a probe in {timeout} s"
            time.sleep(0.5)

    def count(self, site: str) -> int:
        rows = self.influxql.rows(
            f"SELECT count(celsius) FROM temperature WHERE site = {quote_literal(site)}"  # noqa: S608
        )
        return int(rows[0]["count"]) if rows else 0

    def wait_count(self, site: str, expected: int, timeout: float, quiet_s: float = 0) -> bool:
        """Wait until `expected` points are stored; False on timeout or, with `quiet_s`,
        once the count has not moved for that long (a loss will not heal)."""
        deadline = time.monotonic() + timeout
        last, moved = -1, time.monotonic()
        while True:
            now_count = self.count(site)
            if now_count >= expected:
                return True
            if now_count != last:
                last, moved = now_count, time.monotonic()
            if time.monotonic() > deadline or (quiet_s and time.monotonic() - moved > quiet_s):
                return False
            time.sleep(0.2)
