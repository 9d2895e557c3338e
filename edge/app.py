"""The edge agent's composition root: build outbox, link, sensors and agent; run; close.

`python -m edge.app --config /etc/canteen/edge.yaml` runs one device until SIGTERM or
Ctrl-C (`canteen edge --config FILE` calls `main`). Nothing happens at import time.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from types import FrameType

from canteen.settings import MqttSettings
from edge.agent import Agent, utc_now
from edge.build import BuildContext, build_sources
from edge.config import ConfigError, EdgeConfig, load_config
from edge.mqtt_link import MqttLink
from edge.outbox import Outbox, OutboxError
from edge.sources import ReadingSource
from edge.systemd_notify import SystemdNotifier

logger = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"


def run_device(
    config: EdgeConfig,
    mqtt: MqttSettings,
    context: BuildContext,
    stop: threading.Event,
    notifier: SystemdNotifier | None = None,
) -> None:
    """Run one device's agent with the given broker settings until `stop` is set."""
    with ExitStack() as closing:  # closes in reverse: link, sensors, outbox
        outbox = Outbox(config.state_dir / OUTBOX_FILE, config.outbox_max_readings)
        closing.callback(outbox.close)
        sources = build_sources(config, context)
        for source in sources:
            closing.callback(_close_sensor, source)
        link = MqttLink(mqtt, config.site, config.device)
        closing.callback(link.close)
        agent = Agent(config, sources, outbox, link, context.clock)
        if notifier is None:
            agent.run(stop)
            return
        notifier.ready()
        try:
            agent.run(stop, heartbeat=notifier.alive)
        finally:
            notifier.stopping()


def _close_sensor(source: ReadingSource) -> None:
    try:
        source.close()
    except Exception:  # closing one sensor must not keep the others open
        logger.exception("closing sensor %s failed", source.name)


def run_edge(config: EdgeConfig, stop: threading.Event) -> None:
    """Run the agent a device config describes until `stop` is set."""
    context = BuildContext(site=config.site, device=config.device, clock=utc_now)
    logger.info(
        "agent %s/%s starting: %d sensors, broker %s, state in %s",
        config.site,
        config.device,
        len(config.sensors),
        config.mqtt_settings().url(),
        config.state_dir,
    )
    run_device(config, config.mqtt_settings(), context, stop, SystemdNotifier())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the edge agent from the command line; stop on SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="canteen edge", description=__doc__)
    parser.add_argument("--config", required=True, help="the device's YAML file")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING...")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        config = load_config(args.config)
    except ConfigError as err:
        parser.exit(2, f"{err}\n")
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        run_edge(config, stop)
    except OutboxError as err:
        logger.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
