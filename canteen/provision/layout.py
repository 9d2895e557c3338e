"""Where a hub's broker secrets live in the state folder, and how they are written.

    STATE/ca/ca.key                 the private CA's key: never mounted into the broker
    STATE/certs/{ca,server}.crt     what the broker and the devices need
    STATE/certs/server.key
    STATE/secrets/passwords         mosquitto_passwd's file
    STATE/secrets/acl               generated from the registry, never edited by hand
    STATE/registry.json             hub settings and every device, revoked ones too
    STATE/hub.env                   the hub user's CANTEEN_MQTT_URL for ingest and dashboard
    STATE/devices/SITE/DEVICE/      a device's bundle: edge.yaml, edge.env, ca.crt
    STATE/bridges/canteen-SITE.conf a site hub's bridge to the central broker (has its password)
    STATE/bridges/canteen-SITE.ca.crt  the central broker's CA, for that bridge
    STATE/bridge-logins/SITE/       on the central hub: a site's bridge.env and ca.crt to hand over

`certs/` and `secrets/` mirror the broker's /mosquitto/certs and /mosquitto/secrets
(broker/mosquitto.conf), so a container mounts the two folders as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from canteen.provision import ProvisionError

DEFAULT_STATE_DIR = Path("/etc/canteen/broker")
LOCAL_STATE_DIR = Path("var/broker")


def default_state_dir() -> Path:
    """CANTEEN_BROKER_DIR, else /etc/canteen/broker as root (a hub), else var/broker (local)."""
    if os.environ.get("CANTEEN_BROKER_DIR"):
        return Path(os.environ["CANTEEN_BROKER_DIR"])
    return DEFAULT_STATE_DIR if os.geteuid() == 0 else LOCAL_STATE_DIR


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """The paths of one hub's broker state."""

    root: Path

    @property
    def ca_key(self) -> Path:
        """The private CA's key."""
        return self.root / "ca" / "ca.key"

    @property
    def ca_cert(self) -> Path:
        """The private CA's certificate (devices verify the broker with it)."""
        return self.root / "certs" / "ca.crt"

    @property
    def server_cert(self) -> Path:
        """The broker's TLS certificate."""
        return self.root / "certs" / "server.crt"

    @property
    def server_key(self) -> Path:
        """The broker's TLS key."""
        return self.root / "certs" / "server.key"

    @property
    def password_file(self) -> Path:
        """Mosquitto's password file."""
        return self.root / "secrets" / "passwords"

    @property
    def acl_file(self) -> Path:
        """Mosquitto's ACL file."""
        return self.root / "secrets" / "acl"

    @property
    def registry(self) -> Path:
        """The hub's settings and devices."""
        return self.root / "registry.json"

    @property
    def hub_env(self) -> Path:
        """The hub user's login for the ingest and the dashboard."""
        return self.root / "hub.env"

    def bundle(self, site: str, device: str) -> Path:
        """The folder of one device's files to copy onto its Pi."""
        return self.root / "devices" / site / device

    @property
    def bridges_dir(self) -> Path:
        """The site's bridge configs: Mosquitto reads it with `include_dir`."""
        return self.root / "bridges"

    def bridge_conf(self, site: str) -> Path:
        """The bridge config of a site's link to the central broker."""
        return self.bridges_dir / f"canteen-{site}.conf"

    def bridge_ca(self, site: str) -> Path:
        """The central broker's CA certificate for that link (not a .conf: never loaded)."""
        return self.bridges_dir / f"canteen-{site}.ca.crt"

    def bridge_login(self, site: str) -> Path:
        """On the central hub: the folder of a site's bridge login to hand over."""
        return self.root / "bridge-logins" / site

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state folder's lock: one provisioning command at a time."""
        make_private_dir(self.root)
        fd = os.open(self.root / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def make_private_dir(path: Path) -> None:
    """Create a folder (and parents) readable by its owner only."""
    try:
        for folder in [*reversed(path.parents), path]:
            if not folder.exists():
                folder.mkdir(mode=0o700)  # each level: parents=True would leave them 0755
    except PermissionError as err:
        raise ProvisionError(
            f"cannot create {path}: permission denied - run with sudo, or pass "
            "--state-dir var/broker for a local setup"
        ) from err


def write_private(path: Path, data: bytes | str) -> None:
    """Write a file with mode 0600, atomically (a crash leaves the old one or the new one)."""
    make_private_dir(path.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except PermissionError as err:
        raise ProvisionError(f"cannot write {path}: permission denied - run with sudo") from err


def resolve_owner(name: str | None) -> int | None:
    """The uid of the broker's user (a name or a number), for files the broker reads."""
    if name is None:
        return None
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError as err:
        raise ProvisionError(
            f"--broker-user {name!r} is not a user on this machine: give the user Mosquitto "
            "runs as (mosquitto on Debian, 1883 for the eclipse-mosquitto container)"
        ) from err


def hand_to_broker(files: BrokerFiles, uid: int | None) -> None:
    """Let the broker's user own what it reads (certs/, secrets/); still 0600 / 0700.

    Mosquitto drops root before it re-reads the password and ACL files on a reload, so
    files only root may read would lock every device out at the first reload.
    """
    if uid is None or os.geteuid() != 0:
        return
    # The broker must pass through the state folder (and a /etc/canteen made by us) to
    # reach them: search permission only, so it still cannot list or read anything else.
    for folder in (files.root, files.root.parent):
        if stat.S_IMODE(folder.stat().st_mode) == 0o700:
            os.chmod(folder, 0o711)  # noqa: S103  (search only: no read, no listing)
    for folder in (files.ca_cert.parent, files.password_file.parent):
        os.chown(folder, uid, -1)
        for path in folder.iterdir():
            os.chown(path, uid, -1)
