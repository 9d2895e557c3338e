"""Bridges from each site's Mosquitto to a central one, for a district of several hubs.

On the central hub `canteen bridge allow SITE` gives the site a login, `bridge-SITE`, that
may write only that site's telemetry and status and read only its devices' config, and
leaves the login (bridge.env) and the central CA (ca.crt) in STATE/bridge-logins/SITE/.
On the site's hub `canteen bridge add SITE --central HOST[:PORT] --login bridge.env
--central-ca ca.crt` writes STATE/bridges/canteen-SITE.conf (mode 0600: it holds the
password) and a copy of the CA beside it; Mosquitto reads that folder with `include_dir`.
Mosquitto 2.0 loads bridges only when it starts ("Bridges cannot currently be reloaded on
reload signal", mosquitto.conf(5)), so `add` and `remove` restart the broker.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from canteen.provision import ProvisionError
from canteen.provision.access import BrokerAccess, Outcome
from canteen.provision.acl import render_acl
from canteen.provision.device_files import broker_url
from canteen.provision.layout import (
    BrokerFiles,
    hand_to_broker,
    make_private_dir,
    resolve_owner,
    write_private,
)
from canteen.provision.passwords import new_password
from canteen.provision.registry import Registry, check_slug, load_registry
from canteen.provision.reload import SYSTEMD_UNIT, ReloadResult, _systemd_unit_active
from protocol import Channel

logger = logging.getLogger(__name__)

BRIDGE_USER_PREFIX = "bridge-"
"""Bridge logins never collide with devices (canteen-SITE-DEVICE) or the hub (hub)."""
CENTRAL_PORT = 8883
RESTART_TIMEOUT = (5, 60)
"""Reconnect back-off of the bridge in seconds: decorrelated jitter from 5 s up to 60 s."""
LOGIN_KEY = "CANTEEN_BRIDGE_URL"


def bridge_username(site: str) -> str:
    """The site's login on the central broker: bridge-SITE."""
    return f"{BRIDGE_USER_PREFIX}{site}"


def central_rules(root: str, site: str) -> list[str]:
    """What a site's bridge may do on the central broker.

    Write the site's telemetry and status (bridged `out`), read its devices' config
    (bridged `in`). Not `readwrite root/SITE/#`: a stolen site password cannot forge a
    config for the central hub to act on, nor read back what other sites' dashboards see.
    """
    return [
        f"topic write {root}/{site}/+/{Channel.TELEMETRY.value}",
        f"topic write {root}/{site}/+/{Channel.STATUS.value}",
        f"topic read {root}/{site}/+/{Channel.CONFIG.value}",
    ]


def render_bridge_acl(root: str, sites: list[str]) -> str:
    """The ACL section of every allowed site's bridge login."""
    lines: list[str] = []
    for site in sorted(sites):
        lines += [
            "",
            f"# site {site}'s bridge (canteen bridge allow)",
            f"user {bridge_username(site)}",
        ]
        lines += central_rules(root, site)
    return "\n".join(lines) + "\n" if lines else ""


class BridgedAccess(BrokerAccess):
    """The hub's broker access, plus the bridge logins of the sites it is central for.

    The password file is the record of which sites are allowed (logins `bridge-SITE`); every
    command, device ones too, writes their ACL section after the devices'.
    """

    def bridge_sites(self) -> list[str]:
        """The sites whose bridges may log in."""
        users = self.passwords.users()
        return sorted(
            u.removeprefix(BRIDGE_USER_PREFIX) for u in users if u.startswith(BRIDGE_USER_PREFIX)
        )

    def allow_bridge(self, site: str) -> Outcome:
        """Give a site's bridge a login (a new password if it had one) and its ACL."""
        check_slug(site)
        with self.files.locked():
            registry = load_registry(self.files.registry)
            password = new_password()
            self.passwords.set(bridge_username(site), password)
            folder = self.files.bridge_login(site)
            url = broker_url(
                registry.device_host, registry.tls_port, bridge_username(site), password
            )
            write_private(
                folder / "bridge.env",
                f"# site {site}'s login on the central broker (mode 0600)\n{LOGIN_KEY}={url}\n",
            )
            write_private(folder / "ca.crt", self.files.ca_cert.read_bytes())
            self._commit(registry)
        lines = [
            f"site {site} may bridge in as {bridge_username(site)}: "
            f"{', '.join(central_rules(registry.topic_root, site))}",
            f"its files: {folder} (bridge.env with the password, ca.crt); on {site}'s hub run "
            f"`sudo canteen bridge add {site} --central {registry.device_host}:{registry.tls_port}"
            f" --login bridge.env --central-ca ca.crt`, then delete them here",
        ]
        return Outcome(lines, self.reload(), folder)

    def deny_bridge(self, site: str) -> Outcome:
        """Lock a site's bridge out: its login and ACL section removed."""
        with self.files.locked():
            registry = load_registry(self.files.registry)
            if site not in self.bridge_sites():
                raise ProvisionError(f"site {site} has no bridge login here (see the ACL file)")
            self.passwords.delete(bridge_username(site))
            shutil.rmtree(self.files.bridge_login(site), ignore_errors=True)
            self._commit(registry)
        return Outcome([f"site {site}'s bridge login removed"], self.reload())

    def _commit(self, registry: Registry) -> None:
        super()._commit(registry)
        sites = self.bridge_sites()
        if sites:
            acl = render_acl(registry) + render_bridge_acl(registry.topic_root, sites)
            write_private(self.files.acl_file, acl)
            hand_to_broker(self.files, resolve_owner(registry.broker_user))


@dataclass(frozen=True, slots=True)
class BridgeLink:
    """One site's link to the central broker, as its bridge config says it."""

    site: str
    host: str
    port: int
    username: str
    password: str
    cafile: Path
    """The central CA as the broker sees it (in a container: under its mount point)."""
    restart_timeout: tuple[int, int] = RESTART_TIMEOUT


def parse_central(value: str) -> tuple[str, int]:
    """HOST, HOST:PORT or [IPv6]:PORT; the port defaults to 8883 (TLS)."""
    host, port = value, str(CENTRAL_PORT)
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535 or " " in host:
        raise ProvisionError(
            f"--central {value!r} is not HOST[:PORT] (for example central.example.org:8883)"
        )
    return host, int(port)


def read_bridge_login(path: Path) -> tuple[str, str]:
    """The username and password in a bridge.env made by `canteen bridge allow`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ProvisionError(f"cannot read --login {path}: {err.strerror}") from err
    for line in text.splitlines():
        if line.startswith(f"{LOGIN_KEY}="):
            url = urlsplit(line.split("=", 1)[1])
            if url.username and url.password:
                return unquote(url.username), unquote(url.password)
    raise ProvisionError(
        f"{path} has no {LOGIN_KEY}=mqtts://USER:PASSWORD@... line: give the bridge.env that "
        "`canteen bridge allow SITE` wrote on the central hub"
    )


def render_bridge_conf(link: BridgeLink, root: str) -> str:
    """The Mosquitto bridge section for the site's link."""
    site, (base, cap) = link.site, link.restart_timeout
    address = f"[{link.host}]" if ":" in link.host else link.host
    return f"""\
# Written by `canteen bridge add {site}`: edits here are overwritten. Mode 0600: it holds
# the site's password on the central broker. Mosquitto reads bridges only when it starts.
connection canteen-{site}
address {address}:{link.port}
remote_clientid canteen-bridge-{site}
remote_username {link.username}
remote_password {link.password}
bridge_cafile {link.cafile}
bridge_insecure false
bridge_tls_version tlsv1.2
# MQTT 3.1.1: the bridge flag (try_private) lets a Mosquitto, EMQX or VerneMQ central keep
# retained flags and skip echoing messages back.
bridge_protocol_version mqttv311
try_private true
# Persistent sessions on both sides: while the link is down the site broker queues every
# QoS 1 message for the bridge (up to max_queued_messages, conf.d/limits.conf) and keeps
# the queue across its own restarts; the central one keeps config messages for the site.
cleansession false
local_cleansession false
bridge_attempt_unsubscribe false
start_type automatic
restart_timeout {base} {cap}
keepalive_interval 60
notifications true
notifications_local_only true
topic {root}/{site}/+/{Channel.TELEMETRY.value} out 1
topic {root}/{site}/+/{Channel.STATUS.value} out 1
topic {root}/{site}/+/{Channel.CONFIG.value} in 1
"""


def _hand_bridges_to_broker(files: BrokerFiles, uid: int | None) -> None:
    if uid is None or os.geteuid() != 0:
        return
    os.chown(files.bridges_dir, uid, -1)
    for path in files.bridges_dir.iterdir():
        os.chown(path, uid, -1)


def add_bridge(
    files: BrokerFiles,
    site: str,
    central: str,
    login: Path,
    central_ca: Path,
    *,
    broker_dir: Path | None = None,
    restart_timeout: tuple[int, int] = RESTART_TIMEOUT,
) -> list[str]:
    """Write the site's bridge config and the central CA; the broker must then restart.

    `broker_dir` is the bridges folder as Mosquitto sees it (default: where it is written).
    """
    check_slug(site)
    host, port = parse_central(central)
    username, password = read_bridge_login(login)
    try:
        ca_pem = central_ca.read_bytes()
    except OSError as err:
        raise ProvisionError(f"cannot read --central-ca {central_ca}: {err.strerror}") from err
    if b"BEGIN CERTIFICATE" not in ca_pem:
        raise ProvisionError(f"--central-ca {central_ca} is not a PEM certificate")
    with files.locked():
        registry = load_registry(files.registry)
        seen_as = (broker_dir or files.bridges_dir) / files.bridge_ca(site).name
        link = BridgeLink(site, host, port, username, password, seen_as, restart_timeout)
        make_private_dir(files.bridges_dir)
        write_private(files.bridge_ca(site), ca_pem)
        write_private(files.bridge_conf(site), render_bridge_conf(link, registry.topic_root))
        _hand_bridges_to_broker(files, resolve_owner(registry.broker_user))
    logger.info("bridge %s -> %s:%s written", site, host, port)
    return [
        f"bridge canteen-{site} to {host}:{port} as {username}: {files.bridge_conf(site)}",
        f"Mosquitto must include the folder: `include_dir {broker_dir or files.bridges_dir}` "
        "in its main config (broker/README.md, Several sites)",
    ]


def remove_bridge(files: BrokerFiles, site: str) -> list[str]:
    """Delete the site's bridge config and CA copy; the broker must then restart."""
    with files.locked():
        if not files.bridge_conf(site).exists():
            raise ProvisionError(f"no bridge for {site} in {files.bridges_dir}")
        files.bridge_conf(site).unlink()
        files.bridge_ca(site).unlink(missing_ok=True)
    return [f"bridge canteen-{site} removed"]


def restart_broker(how: str = "auto", unit: str = SYSTEMD_UNIT) -> ReloadResult:
    """Restart Mosquitto so it loads its bridges (systemd); else say how to do it."""
    if how == "none":
        return ReloadResult(False, "broker not restarted (--restart none)")
    if how == "systemd" or (how == "auto" and _systemd_unit_active(unit)):
        systemctl = shutil.which("systemctl") or "systemctl"
        done = subprocess.run(  # noqa: S603  (fixed program and arguments, no shell)
            [systemctl, "restart", unit], capture_output=True, text=True, check=False, timeout=60
        )
        if done.returncode == 0:
            return ReloadResult(True, f"broker restarted (systemctl restart {unit})")
        why = f"`systemctl restart {unit}` failed: {done.stderr.strip()}"
    else:
        why = f"no systemd unit {unit!r} is active"
    return ReloadResult(
        False,
        f"the broker was NOT restarted ({why}). Mosquitto 2.0 loads bridges only at start (a "
        "SIGHUP does not): run `sudo systemctl restart mosquitto` or `docker compose restart "
        "mosquitto`; its persistent queue survives the restart",
    )
