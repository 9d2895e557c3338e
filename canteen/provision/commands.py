"""`canteen broker init` and `canteen device add|rotate|revoke|list` on the hub.

sudo canteen broker init --hostname hub.local --hostname 192.168.1.10
sudo canteen device add site-a cold-room --kind fridge
sudo canteen device rotate site-a cold-room
sudo canteen device revoke site-a cold-room
sudo canteen device list
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
from canteen.provision.reload import DEBIAN_PID_FILE, reload_broker

if TYPE_CHECKING:
    from canteen.provision.access import BrokerAccess, Outcome

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def access_from_args(args: argparse.Namespace) -> BrokerAccess:
    """The broker state the command line names, with its way of reloading the broker."""
    # Imported here: without the hub extra (cryptography) the commands still show up
    # and say which package is missing.
    from canteen.provision.access import BrokerAccess

    reload = functools.partial(reload_broker, args.reload, args.pid_file)
    if args.broker_user is not None:
        resolve_owner(args.broker_user)  # refuse an unknown user before anything changes
    return BrokerAccess(BrokerFiles(args.state_dir), reload, broker_user=args.broker_user)


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
