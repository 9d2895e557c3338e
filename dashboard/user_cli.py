"""`canteen user` and `canteen kiosk-token`: who may sign in, and the wall screens' links.

    canteen user add li.wei --role manager      # asks for the password (or reads stdin)
    canteen user passwd li.wei                  # a new password; open sessions end
    canteen user remove li.wei
    canteen user list
    canteen kiosk-token site-a --label "kitchen TV"   # prints the wall screen's URL
    canteen kiosk-token --list
    canteen kiosk-token --revoke 3

They work on the hub's state folder (`--state-dir`, else CANTEEN_STATE_DIR or the hub
file's), also while the dashboard runs: it reads the same SQLite file on every request.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from canteen.settings import SettingsError
from dashboard.settings import DashboardSettings
from dashboard.users import ROLES, USERS_FILE, Role, UserError, UserStore
from protocol.topics import SLUG_PATTERN


def _settings(args: argparse.Namespace) -> DashboardSettings:
    from canteen.hub_config import dashboard_settings

    settings = dashboard_settings(args.config)
    if args.state_dir is not None:
        settings = settings.model_copy(update={"state_dir": args.state_dir})
    return settings


def _store(args: argparse.Namespace) -> UserStore:
    return UserStore(_settings(args).state_dir / USERS_FILE)


def read_password(prompt: str = "Password") -> str:
    """Ask twice on a terminal; otherwise take the first line of stdin (for scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass(f"{prompt} again: ") != first:
        raise UserError("the two passwords differ; nothing was changed")
    return first


def user_command(args: argparse.Namespace, store: UserStore) -> str:
    """Run one `canteen user` action; return what to tell the person at the keyboard."""
    now = datetime.now(UTC)
    if args.action == "list":
        rows = [f"{user.name}\t{user.role}" for user in store.users()]
        return "\n".join(rows) or "no users yet: canteen user add NAME --role admin"
    if not args.name:
        raise UserError(f"canteen user {args.action} needs a NAME")
    if args.action == "add":
        user = store.add(args.name, cast(Role, args.role), read_password(), now)
        return f"added {user.name} ({user.role})"
    if args.action == "passwd":
        store.set_password(args.name, read_password("New password"), now)
        return f"changed the password of {args.name}; their sessions have ended"
    store.remove(args.name)
    return f"removed {args.name}"


def kiosk_command(args: argparse.Namespace, store: UserStore, public_url: str) -> str:
    """Make, list or revoke kiosk tokens; return what to print."""
    if args.list:
        rows = [
            f"#{k.id}\t{k.site}\t{k.label}\t{k.created_at}{'  (revoked)' if k.revoked else ''}"
            for k in store.kiosks()
        ]
        return "\n".join(rows) or "no kiosk tokens yet"
    if args.revoke is not None:
        store.revoke_kiosk(args.revoke, datetime.now(UTC))
        return f"revoked kiosk #{args.revoke}: its screen shows the sign-in page from now on"
    if not args.site or not re.fullmatch(SLUG_PATTERN, args.site):
        raise UserError("canteen kiosk-token needs a SITE like site-a (lower case, digits, -)")
    kiosk, token = store.add_kiosk(args.site, args.label, datetime.now(UTC))
    return kiosk_url(public_url, kiosk.site, token)


def kiosk_url(public_url: str, site: str, token: str) -> str:
    """The address a wall screen opens: its site's page with the kiosk token."""
    return f"{public_url.rstrip('/')}/wall/{site}?kiosk={token}"


def _run_user(args: argparse.Namespace, _stop: threading.Event) -> None:
    store = _store(args)
    try:
        print(user_command(args, store))
    except UserError as err:
        raise SettingsError(str(err)) from err
    finally:
        store.close()


def _run_kiosk(args: argparse.Namespace, _stop: threading.Event) -> None:
    settings = _settings(args)
    store = UserStore(settings.state_dir / USERS_FILE)
    try:
        print(kiosk_command(args, store, settings.alerts.public_url))
    except UserError as err:
        raise SettingsError(str(err)) from err
    finally:
        store.close()


def _hub_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="hub YAML file (CANTEEN_* variables win)")
    parser.add_argument("--state-dir", type=Path, help="where the hub keeps SQLite state")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `canteen user` and `canteen kiosk-token` to the command line."""
    user = sub.add_parser("user", help="add, change or remove who may sign in to the dashboard")
    user.add_argument("action", choices=["add", "passwd", "remove", "list"])
    user.add_argument("name", nargs="?", help="the user's name (sign-in name)")
    user.add_argument("--role", choices=ROLES, default="staff", help="for add (default staff)")
    _hub_options(user)
    user.set_defaults(run=_run_user)

    kiosk = sub.add_parser("kiosk-token", help="print a wall screen URL with a read-only token")
    kiosk.add_argument("site", nargs="?", help="the site the screen shows, e.g. site-a")
    kiosk.add_argument("--label", default="wall screen", help="which screen, for --list")
    kiosk.add_argument("--list", action="store_true", help="list kiosk tokens")
    kiosk.add_argument("--revoke", type=int, metavar="ID", help="revoke a kiosk token")
    _hub_options(kiosk)
    kiosk.set_defaults(run=_run_kiosk)
