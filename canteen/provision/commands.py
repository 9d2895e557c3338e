"""`canteen broker init` and `canteen device add|rotate|revoke|list` on the hub.

sudo canteen broker init --hostname hub.local --hostname 192.168.1.10
sudo canteen device add site-a cold-room --kind fridge
sudo canteen device rotate site-a cold-room
sudo canteen device revoke site-a cold-room
sudo canteen device list
sudo canteen bridge allow site-a                  # on the central hub
sudo canteen bridge add site-a --central central.example.org:8883 \
    --login bridge.env --central-ca ca.crt        # on site-a's hub
sudo canteen bridge remove site-a
"""

from __future__ import annotations

import argparse
import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canteen.provision import ProvisionError
from canteen.provision.layout import BrokerFiles, default_state_dir, resolve_owner
from canteen.provision.registry import KINDS
from canteen.provision.reload import DEBIAN_PID_FILE, ReloadResult, reload_broker

if TYPE_CHECKING:
    from canteen.provision.access import Outcome
    from canteen.provision.bridge import BridgedAccess

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def access_from_args(args: argparse.Namespace) -> BridgedAccess:
    """The broker state the command line names, with its way of reloading the broker."""
    # Imported here: without the hub extra (cryptography) the commands still show up
    # and say which package is missing.
    from canteen.provision.bridge import BridgedAccess

    reload = functools.partial(reload_broker, args.reload, args.pid_file)
    if args.broker_user is not None:
        resolve_owner(args.broker_user)  # refuse an unknown user before anything changes
    # Bridged: every command keeps the ACL of the sites bridged to this hub, if any.
    return BridgedAccess(BrokerFiles(args.state_dir), reload, broker_user=args.broker_user)


def _report(outcome: Outcome, *, reload_required: bool = True) -> None:
    """Print what was done; fail (exit 2) when the broker had to reload and did not."""
    for line in outcome.lines:
        print(line)
    if outcome.reload.done or not reload_required:
        print(outcome.reload.message)
        return
    raise ProvisionError(outcome.reload.message)


def _init(args: argparse.Namespace, _stop: threading.Event) -> None:
    outcome = access_from_args(args).init(
        args.hostname, args.port, local_port=args.local_port, renew=args.renew
    )
    # At setup the broker usually is not running yet: it reads the files when it starts.
    _report(outcome, reload_required=False)


def _add(args: argparse.Namespace, _stop: threading.Event) -> None:
    outcome = access_from_args(args).add(
        args.site, args.device, args.kind, simulated=args.simulated
    )
    _report(outcome, reload_required=args.reload != "none")


def _rotate(args: argparse.Namespace, _stop: threading.Event) -> None:
    outcome = access_from_args(args).rotate(args.site, args.device)
    _report(outcome, reload_required=args.reload != "none")


def _revoke(args: argparse.Namespace, _stop: threading.Event) -> None:
    outcome = access_from_args(args).revoke(args.site, args.device)
    _report(outcome, reload_required=args.reload != "none")


def _list(args: argparse.Namespace, _stop: threading.Event) -> None:
    entries = access_from_args(args).devices()
    if not entries:
        print("no devices yet: add one with `canteen device add SITE DEVICE --kind fridge`")
        return
    print(f"{'site':<16} {'device':<20} {'kind':<9} {'login':<40} state")
    for entry in entries:
        state = "active" if entry.active else f"revoked {entry.revoked:%Y-%m-%d %H:%M}"
        changed = entry.rotated or entry.created
        if entry.active:
            state += f" since {changed:%Y-%m-%d %H:%M}"
        print(f"{entry.site:<16} {entry.device:<20} {entry.kind:<9} {entry.username:<40} {state}")


def _bridge_allow(args: argparse.Namespace, _stop: threading.Event) -> None:
    outcome = access_from_args(args).allow_bridge(args.site)
    _report(outcome, reload_required=args.reload != "none")


def _bridge_deny(args: argparse.Namespace, _stop: threading.Event) -> None:
    outcome = access_from_args(args).deny_bridge(args.site)
    _report(outcome, reload_required=args.reload != "none")


def _bridge_add(args: argparse.Namespace, _stop: threading.Event) -> None:
    from canteen.provision.bridge import add_bridge, restart_broker

    lines = add_bridge(
        BrokerFiles(args.state_dir),
        args.site,
        args.central,
        args.login,
        args.central_ca,
        broker_dir=args.broker_dir,
    )
    _report_restart(lines, restart_broker(args.restart), args.restart)


def _bridge_remove(args: argparse.Namespace, _stop: threading.Event) -> None:
    from canteen.provision.bridge import remove_bridge, restart_broker

    lines = remove_bridge(BrokerFiles(args.state_dir), args.site)
    _report_restart(lines, restart_broker(args.restart), args.restart)


def _report_restart(lines: list[str], restart: ReloadResult, how: str) -> None:
    for line in lines:
        print(line)
    if restart.done or how == "none":
        print(restart.message)
        return
    raise ProvisionError(restart.message)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        help="the broker's secrets (default $CANTEEN_BROKER_DIR, else /etc/canteen/broker "
        "as root, else var/broker)",
    )
    parser.add_argument(
        "--reload",
        choices=["auto", "systemd", "pid", "none"],
        default="auto",
        help="how to make the broker re-read its files (auto: systemd if active, else pid)",
    )
    parser.add_argument(
        "--pid-file",
        type=Path,
        default=DEBIAN_PID_FILE,
        help="Mosquitto's pid_file, for a SIGHUP (default %(default)s)",
    )
    parser.add_argument(
        "--broker-user",
        help="the user Mosquitto runs as, made owner of certs/ and secrets/ "
        "(mosquitto on Debian, 1883 for the eclipse-mosquitto container); remembered",
    )


def _device_parser(sub: Any, name: str, helptext: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=helptext)
    parser.add_argument("site", help="the canteen's slug, e.g. site-a")
    parser.add_argument("device", help="the Pi's slug, e.g. cold-room")
    _common(parser)
    return parser


def register(sub: SubParsers) -> None:
    """Add `canteen broker` and `canteen device` to the command line."""
    broker = sub.add_parser("broker", help="set up the hub's broker: CA, certificate, hub user")
    broker_sub = broker.add_subparsers(dest="action", required=True)
    init = broker_sub.add_parser("init", help="create the CA, server certificate and hub login")
    init.add_argument(
        "--hostname",
        action="append",
        required=True,
        help="a name or IP address devices reach the hub by (repeatable; the first goes "
        "into device configs)",
    )
    init.add_argument("--port", type=int, default=8883, help="the TLS port devices use")
    init.add_argument(
        "--local-port", type=int, default=1883, help="the loopback plain port the hub uses"
    )
    init.add_argument("--renew", action="store_true", help="issue a new server certificate")
    _common(init)
    init.set_defaults(run=_init)

    device = sub.add_parser("device", help="add, rotate, revoke or list kitchen devices' logins")
    device_sub = device.add_subparsers(dest="action", required=True)
    add = _device_parser(device_sub, "add", "give a device a login and a ready config")
    add.add_argument("--kind", choices=KINDS, required=True, help="what the node is")
    add.add_argument(
        "--simulated", action="store_true", help="simulated sensors (to try it without hardware)"
    )
    add.set_defaults(run=_add)
    _device_parser(device_sub, "rotate", "give a device a new password").set_defaults(run=_rotate)
    _device_parser(device_sub, "revoke", "lock a device out").set_defaults(run=_revoke)
    listing = device_sub.add_parser("list", help="every device and its state")
    _common(listing)
    listing.set_defaults(run=_list)
    _register_bridge(sub)


def _register_bridge(sub: SubParsers) -> None:
    bridge = sub.add_parser("bridge", help="link site hubs to a central broker")
    bridge_sub = bridge.add_subparsers(dest="action", required=True)
    for name, helptext, run in (
        ("allow", "on the central hub: give a site's bridge a login", _bridge_allow),
        ("deny", "on the central hub: lock a site's bridge out", _bridge_deny),
    ):
        parser: argparse.ArgumentParser = bridge_sub.add_parser(name, help=helptext)
        parser.add_argument("site", help="the site's slug, e.g. site-a")
        _common(parser)
        parser.set_defaults(run=run)
    add = bridge_sub.add_parser("add", help="on a site's hub: bridge it to the central broker")
    add.add_argument("site", help="this hub's site slug, e.g. site-a")
    add.add_argument("--central", required=True, help="the central broker, HOST[:PORT=8883]")
    add.add_argument(
        "--login", type=Path, required=True, help="bridge.env from `canteen bridge allow`"
    )
    add.add_argument(
        "--central-ca", type=Path, required=True, help="the central broker's CA (its ca.crt)"
    )
    add.add_argument(
        "--broker-dir",
        type=Path,
        help="the bridges folder as Mosquitto sees it, e.g. /mosquitto/bridges in the "
        "container (default: STATE/bridges)",
    )
    remove = bridge_sub.add_parser("remove", help="on a site's hub: delete its bridge")
    remove.add_argument("site", help="this hub's site slug")
    for parser in (add, remove):
        parser.add_argument(
            "--state-dir", type=Path, default=default_state_dir(), help="the broker's state"
        )
        parser.add_argument(
            "--restart",
            choices=["auto", "systemd", "none"],
            default="auto",
            help="Mosquitto 2.0 loads bridges only at start (auto: systemctl restart if the "
            "unit is active, else say how)",
        )
    add.set_defaults(run=_bridge_add)
    remove.set_defaults(run=_bridge_remove)
