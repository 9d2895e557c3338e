"""The hub's broker registry: its settings and every device it has let in (or revoked)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from canteen.provision import ProvisionError
from canteen.provision.layout import write_private
from protocol import DEFAULT_ROOT, is_slug

DeviceKind = Literal["fridge", "waste", "entrance"]
KINDS: tuple[DeviceKind, ...] = ("fridge", "waste", "entrance")
HUB_USER = "hub"


def check_slug(value: str) -> str:
    """Refuse a site or device name that is not a protocol slug."""
    if not is_slug(value):
        raise ProvisionError(
            f"{value!r} is not a slug: use 1-63 lowercase letters, digits and dashes, "
            "starting with a letter or digit (for example site-a or cold-room)"
        )
    return value


def device_username(site: str, device: str) -> str:
    """The device's broker login: canteen-SITE-DEVICE."""
    return f"canteen-{site}-{device}"


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class DeviceEntry(BaseModel):
    """One kitchen device's broker login."""

    model_config = ConfigDict(extra="forbid")

    site: Annotated[str, AfterValidator(check_slug)] = Field(title="Site")
    device: Annotated[str, AfterValidator(check_slug)] = Field(title="Device")
    kind: DeviceKind = Field(title="Kind of node")
    username: str = Field(title="Broker login name")
    created: datetime = Field(title="When it was added")
    rotated: datetime | None = Field(None, title="When its password last changed")
    revoked: datetime | None = Field(None, title="When it was locked out (None: active)")

    @property
    def active(self) -> bool:
        """Whether the device may log in."""
        return self.revoked is None


class Registry(BaseModel):
    """The hub's broker settings and devices, kept in registry.json."""

    model_config = ConfigDict(extra="forbid")

    hostnames: list[str] = Field(min_length=1, title="Names and addresses of the hub")
    tls_port: int = Field(8883, ge=1, le=65535, title="The devices' TLS port")
    topic_root: str = Field(DEFAULT_ROOT, title="Topic root")
    hub_user: str = Field(HUB_USER, title="The ingest's and dashboard's login")
    broker_user: str | None = Field(None, title="The user Mosquitto runs as (owns its files)")
    devices: list[DeviceEntry] = Field(default_factory=list, title="Devices")

    def find(self, site: str, device: str) -> DeviceEntry | None:
        """The entry of a device, active or revoked."""
        for entry in self.devices:
            if (entry.site, entry.device) == (site, device):
                return entry
        return None

    def require_active(self, site: str, device: str) -> DeviceEntry:
        """The entry of an active device; refuse an unknown or revoked one with the fix."""
        entry = self.find(site, device)
        if entry is None:
            raise ProvisionError(
                f"no device {site}/{device} on this hub: add it with "
                f"`canteen device add {site} {device} --kind KIND` (see `canteen device list`)"
            )
        if not entry.active:
            raise ProvisionError(
                f"{site}/{device} was revoked: add it again with "
                f"`canteen device add {site} {device} --kind {entry.kind}`"
            )
        return entry

    def check_username_free(self, site: str, device: str) -> None:
        """Refuse a login that another site/device pair already maps to (a-b/c vs a/b-c)."""
        username = device_username(site, device)
        for entry in self.devices:
            if entry.username == username and (entry.site, entry.device) != (site, device):
                raise ProvisionError(
                    f"{site}/{device} would log in as {username}, which {entry.site}/"
                    f"{entry.device} already uses: choose another device name"
                )

    def active_devices(self) -> list[DeviceEntry]:
        """Devices that may log in, sorted by site and device."""
        return sorted((e for e in self.devices if e.active), key=lambda e: (e.site, e.device))

    @property
    def device_host(self) -> str:
        """The name devices reach the hub by: the first of `hostnames`."""
        return self.hostnames[0]


def load_registry(path: Path) -> Registry:
    """Read registry.json; refuse a hub whose broker was never initialised."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ProvisionError(
            f"{path} does not exist: set the broker up first with `canteen broker init "
            f"--hostname HUB-NAME --state-dir {path.parent}` (or pass the right --state-dir)"
        ) from err
    except PermissionError as err:
        raise ProvisionError(f"cannot read {path}: permission denied - run with sudo") from err
    try:
        return Registry.model_validate_json(text)
    except ValidationError as err:
        raise ProvisionError(f"{path} is damaged ({err.error_count()} errors): {err}") from err


def save_registry(path: Path, registry: Registry) -> None:
    """Write registry.json (mode 0600)."""
    write_private(path, registry.model_dump_json(indent=2) + "\n")
