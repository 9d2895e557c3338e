"""The edge agent as a process of its own, with a generated source, for SIGKILL scenarios.

`python -m tests.reliability.edge_process --config edge.yaml --produced FILE --run N ...`
builds the real Outbox, MqttLink and Agent from a device config (as edge/app.py does)
with `GeneratedSource` as its one sensor, and appends each poll's readings to FILE
(`run, poll, sensor, ts_ms, value`, tab-separated) with one unbuffered write, before the
agent keeps them: the file is the record of what was produced, whatever kills the agent.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType

from edge.agent import Agent
from edge.config import load_config
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox
from protocol import Reading, TemperatureReading, epoch_ms
from tests.reliability.harness import GeneratedSource, trusting_clock


def main() -> None:
    """Run the agent until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--produced", required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--per-poll", type=int, required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = load_config(args.config)
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    log = os.open(args.produced, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(poll: int, readings: list[Reading]) -> None:
        lines = []
        for r in readings:
            assert isinstance(r, TemperatureReading)
            lines.append(f"{args.run}\t{poll}\t{r.sensor}\t{epoch_ms(r.ts)}\t{r.celsius}\n")
        os.write(log, "".join(lines).encode())

    source = GeneratedSource("gen-1", args.per_poll, args.interval, args.limit, record, args.run)
    outbox = Outbox(config.state_dir / "outbox.sqlite3", config.outbox_max_readings)
    link = MqttLink(config.mqtt_settings(), config.site, config.device)
    agent = Agent(config, [source], outbox, link, clock_trust=trusting_clock())
    try:
        agent.run(stop)
    finally:
        link.close()
        outbox.close()
        os.close(log)


if __name__ == "__main__":
    main()
