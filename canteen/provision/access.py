"""Who may use the hub's broker: set it up, add, rotate and revoke device logins.

Every change rewrites the password file (through mosquitto_passwd), the ACL file and the
registry under the state folder's lock, then asks the running broker to reload them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from canteen.provision import ProvisionError
from canteen.provision.acl import render_acl
from canteen.provision.certificates import KeyPair, certificate_names, make_ca, make_server_cert
from canteen.provision.device_files import broker_url, render_edge_yaml, write_bundle
from canteen.provision.layout import BrokerFiles, hand_to_broker, resolve_owner, write_private
from canteen.provision.passwords import PasswordFile, new_password
from canteen.provision.registry import (
    DeviceEntry,
    DeviceKind,
    Registry,
    check_slug,
    device_username,
    load_registry,
    save_registry,
    utc_now,
)
from canteen.provision.reload import ReloadResult

logger = logging.getLogger(__name__)

Reloader = Callable[[], ReloadResult]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did, in lines for the user, and whether the broker reloaded."""

    lines: list[str]
    reload: ReloadResult
    bundle: Path | None = None


@dataclass
class BrokerAccess:
    """The broker state in one folder, changed one command at a time."""

    files: BrokerFiles
    reload: Reloader
    broker_user: str | None = None
    """Who Mosquitto runs as; None: the one `init` was given (kept in the registry)."""
    passwords: PasswordFile = field(init=False)

    def __post_init__(self) -> None:
        self.passwords = PasswordFile(self.files.password_file)

    def init(
        self, hostnames: list[str], tls_port: int, local_port: int = 1883, renew: bool = False
    ) -> Outcome:
        """Create what is missing: CA, server certificate, hub user, password and ACL files."""
        if not hostnames:
            raise ProvisionError("give the hub's names with --hostname (e.g. hub.local)")
        with self.files.locked():
            registry = self._registry_or_new(hostnames, tls_port)
            lines = [f"state folder: {self.files.root}"]
            ca = self._ensure_ca(hostnames[0], lines)
            self._ensure_server_cert(ca, hostnames, renew, lines)
            self.passwords.create()
            if registry.hub_user not in self.passwords.users():
                password = new_password()
                self.passwords.set(registry.hub_user, password)
                url = f"mqtt://{registry.hub_user}:{password}@127.0.0.1:{local_port}"
                write_private(self.files.hub_env, f"CANTEEN_MQTT_URL={url}\n")
                lines.append(f"hub user {registry.hub_user!r}: login in {self.files.hub_env}")
            self._commit(registry)
        return Outcome(lines, self.reload())

    def add(self, site: str, device: str, kind: DeviceKind, *, simulated: bool = False) -> Outcome:
        """Give a device a login, its ACL entries and a ready bundle."""
        check_slug(site)
        check_slug(device)
        with self.files.locked():
            registry = load_registry(self.files.registry)
            registry.check_username_free(site, device)
            entry = registry.find(site, device)
            if entry is not None and entry.active:
                raise ProvisionError(
                    f"{site}/{device} already has a login: give it a new password with "
                    f"`canteen device rotate {site} {device}`, or revoke it first"
                )
            if entry is not None:
                registry.devices.remove(entry)
            entry = DeviceEntry(
                site=site,
                device=device,
                kind=kind,
                username=device_username(site, device),
                created=utc_now(),
            )
            registry.devices.append(entry)
            bundle = self._give_password(registry, entry, simulated=simulated, keep_yaml=False)
            self._commit(registry)
        lines = [
            f"added {kind} node {site}/{device} (login {entry.username})",
            f"its files: {bundle} (edge.yaml, edge.env with the password, ca.crt); copy them "
            "to the Pi's /etc/canteen/ and keep edge.env mode 0600",
        ]
        return Outcome(lines, self.reload(), bundle)

    def rotate(self, site: str, device: str) -> Outcome:
        """Replace a device's password; the old one stops working at the reload."""
        with self.files.locked():
            registry = load_registry(self.files.registry)
            entry = registry.require_active(site, device)
            bundle = self._give_password(registry, entry, simulated=False, keep_yaml=True)
            entry.rotated = utc_now()
            self._commit(registry)
        lines = [
            f"new password for {site}/{device} in {bundle / 'edge.env'}",
            "copy it to the Pi's /etc/canteen/edge.env and restart its agent",
        ]
        return Outcome(lines, self.reload(), bundle)

    def revoke(self, site: str, device: str) -> Outcome:
        """Lock a device out: no login, no ACL entries, its bundle deleted."""
        with self.files.locked():
            registry = load_registry(self.files.registry)
            entry = registry.require_active(site, device)
            self.passwords.delete(entry.username)
            entry.revoked = utc_now()
            self._commit(registry)
            shutil.rmtree(self.files.bundle(site, device), ignore_errors=True)
        lines = [f"revoked {site}/{device}: login {entry.username} removed"]
        return Outcome(lines, self.reload())

    def devices(self) -> list[DeviceEntry]:
        """Every device the hub knows, revoked ones too, by site and device."""
        registry = load_registry(self.files.registry)
        return sorted(registry.devices, key=lambda e: (e.site, e.device))

    def _registry_or_new(self, hostnames: list[str], tls_port: int) -> Registry:
        if self.files.registry.exists():
            registry = load_registry(self.files.registry)
            registry.hostnames, registry.tls_port = hostnames, tls_port
            return registry
        return Registry(hostnames=hostnames, tls_port=tls_port)

    def _ensure_ca(self, hub_name: str, lines: list[str]) -> KeyPair:
        key, cert = self.files.ca_key, self.files.ca_cert
        if key.exists() and cert.exists():
            lines.append(f"CA kept: {cert}")
            return KeyPair(cert.read_bytes(), key.read_bytes())
        if key.exists() or cert.exists():
            raise ProvisionError(
                f"only one of {key} and {cert} exists: restore the other from a backup, or "
                "delete both to make a new CA (every device then needs the new ca.crt)"
            )
        ca = make_ca(f"canteen hub CA ({hub_name})", utc_now())
        write_private(key, ca.key_pem)
        write_private(cert, ca.cert_pem)
        lines.append(f"new private CA: {cert} (its key: {key})")
        return ca

    def _ensure_server_cert(
        self, ca: KeyPair, hostnames: list[str], renew: bool, lines: list[str]
    ) -> None:
        cert = self.files.server_cert
        if cert.exists() and not renew and self.files.server_key.exists():
            names = certificate_names(cert.read_bytes())
            if sorted(names) == sorted(h.lower() for h in hostnames):
                lines.append(f"server certificate kept: {cert} ({', '.join(names)})")
                return
        server = make_server_cert(ca, hostnames, utc_now())
        write_private(self.files.server_key, server.key_pem)
        write_private(cert, server.cert_pem)
        lines.append(f"server certificate for {', '.join(hostnames)}: {cert}")

    def _give_password(
        self, registry: Registry, entry: DeviceEntry, *, simulated: bool, keep_yaml: bool
    ) -> Path:
        password = new_password()
        self.passwords.set(entry.username, password)
        host, port = registry.device_host, registry.tls_port
        bundle = self.files.bundle(entry.site, entry.device)
        yaml_text = render_edge_yaml(
            entry.site, entry.device, entry.kind, broker_url(host, port), simulated=simulated
        )
        login = broker_url(host, port, entry.username, password)
        write_bundle(bundle, yaml_text, login, self.files.ca_cert.read_bytes(), keep_yaml=keep_yaml)
        return bundle

    def _commit(self, registry: Registry) -> None:
        if self.broker_user is not None:
            registry.broker_user = self.broker_user
        write_private(self.files.acl_file, render_acl(registry))
        save_registry(self.files.registry, registry)
        # Every command, not only init: a file left to root would lock every device out
        # at the broker's next reload.
        hand_to_broker(self.files, resolve_owner(registry.broker_user))
