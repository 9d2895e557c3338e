"""The `canteen` command: run an edge agent, the simulator, the ingest, the dashboard, or all.

Each subcommand imports what it runs only when it runs, so a Raspberry Pi with just the
`edge` extra installed never needs the hub's packages, and the hub never needs OpenCV.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from canteen.settings import SettingsError

logger = logging.getLogger("canteen")

COMMAND_MODULES = (
    "edge.scale_cli",
    "canteen.provision.commands",
    "dashboard.user_cli",
    "canteen.data_cli",
)
"""Modules adding their own subcommands with `register(subparsers)`."""


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _edge(args: argparse.Namespace, stop: threading.Event) -> None:
    from edge.app import run_edge
    from edge.config import load_config

    run_edge(load_config(args.config), stop)


def _simulate(args: argparse.Namespace, stop: threading.Event) -> None:
    from canteen.settings import mqtt_from_env
    from edge.simulation import run_simulation, sites_for

    sites = args.site or sites_for(args.sites)
    run_simulation(mqtt_from_env(), sites, args.state_dir, stop, speed=args.speed, seed=args.seed)


def _ingest(args: argparse.Namespace, stop: threading.Event) -> None:
    from canteen.hub_config import ingest_settings
    from ingest.app import run_ingest

    run_ingest(ingest_settings(args.config, state_dir=args.state_dir), stop)


def _dashboard(args: argparse.Namespace, stop: threading.Event) -> None:
    from canteen.hub_config import dashboard_settings
    from dashboard.server import run_dashboard

    settings = dashboard_settings(args.config, host=args.host, port=args.port)
    run_dashboard(settings, stop)


def _dead_letters(args: argparse.Namespace, _stop: threading.Event) -> None:
    from canteen.hub_config import ingest_settings
    from ingest.deadletters import DeadLetterStore

    path = ingest_settings(args.config, state_dir=args.state_dir).hub_db
    if not path.exists():
        print(f"no dead letters: {path} does not exist yet (has the ingest run here?)")
        return
    store = DeadLetterStore(path)
    print(f"{store.count()} dead letters in {path}; newest first:")
    for letter in store.latest(args.limit):
        payload = letter.payload[:200].decode(errors="replace")
        print(f"#{letter.id} {letter.received:%Y-%m-%d %H:%M:%S} {letter.topic}")
        print(f"    reason:  {letter.reason}")
        print(f"    payload: {payload}")
    store.close()


def _demo(args: argparse.Namespace, stop: threading.Event) -> None:
    from canteen.demo import DemoOptions, run_demo

    options = DemoOptions(
        state_dir=args.state_dir,
        port=args.port,
        sites=args.sites,
        speed=args.speed,
        language=args.lang,
        host=args.host,
    )
    run_demo(options, stop)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Describe the subcommands and their options: all of them, or enough for `command`.

    The commands of `COMMAND_MODULES` are added unless `command` is one of the built-in
    ones above them, so that `canteen edge` on a Pi loads the agent and nothing else
    (not the waste scale's, the broker's or the dashboard users' commands).
    """
    parser = argparse.ArgumentParser(prog="canteen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    edge = sub.add_parser("edge", help="run one device's agent on a kitchen Raspberry Pi")
    edge.add_argument("--config", type=Path, required=True, help="the device's YAML file")
    edge.set_defaults(run=_edge)

    sim = sub.add_parser("simulate", help="simulated kitchen devices publishing over MQTT")
    sim.add_argument("--sites", type=int, default=1, help="how many sites (site-a, site-b, ...)")
    sim.add_argument("--site", action="append", help="a site name (repeatable; overrides --sites)")
    sim.add_argument("--speed", type=float, default=1.0, help="sim seconds per real second")
    sim.add_argument("--seed", type=int, default=1, help="random seed")
    sim.add_argument("--state-dir", type=Path, default=Path("var/simulate"), help="outboxes")
    sim.set_defaults(run=_simulate)

    for name, helptext, run in (
        ("ingest", "MQTT → InfluxDB with validation and dead letters", _ingest),
        ("dashboard", "the wall screen and JSON API", _dashboard),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("--config", type=Path, help="hub YAML file (CANTEEN_* variables win)")
        cmd.add_argument("--state-dir", type=Path, help="where the hub keeps SQLite state")
        cmd.set_defaults(run=run)
        if name == "dashboard":
            cmd.add_argument("--host", help="address to listen on (default 127.0.0.1)")
            cmd.add_argument("--port", type=int, help="port to listen on (default 8080)")

    dead = sub.add_parser("deadletters", help="show what the ingest rejected, and why")
    dead.add_argument("--config", type=Path, help="hub YAML file")
    dead.add_argument("--state-dir", type=Path, help="where the hub keeps SQLite state")
    dead.add_argument("--limit", type=int, default=20, help="how many to show")
    dead.set_defaults(run=_dead_letters)

    demo = sub.add_parser("demo", help="everything at once with simulated devices")
    demo.add_argument("--port", type=int, default=8080, help="wall screen port")
    demo.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (0.0.0.0: the whole network)"
    )
    demo.add_argument("--sites", type=int, default=1, help="simulated sites")
    demo.add_argument("--speed", type=float, default=1.0, help="simulation speed factor")
    demo.add_argument("--lang", choices=["en", "zh-CN"], default="en", help="screen language")
    demo.add_argument("--state-dir", type=Path, default=Path("var/demo"), help="demo data")
    demo.set_defaults(run=_demo)

    if command in sub.choices:
        return parser
    for module in COMMAND_MODULES:
        try:
            register = importlib.import_module(module).register
        except ImportError as err:  # that part's extra is not installed on this machine
            logger.debug("commands of %s unavailable: %s", module, err)
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in words if not word.startswith("-")), None)
    args = build_parser(command).parse_args(words)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    run: Callable[[argparse.Namespace, threading.Event], None] = args.run
    try:
        run(args, stop)
    except SettingsError as err:
        print(f"canteen {args.command}: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(
            f"canteen {args.command}: a dependency is missing ({err}); install the extra it "
            "needs, e.g. pip install 'smart-canteen[hub]' or '[edge]'",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
