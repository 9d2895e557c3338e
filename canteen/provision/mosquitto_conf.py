"""Read broker/mosquitto.conf: its listeners, and a copy of it for another place and ports.

The tests and `LocalMosquitto(secrets=...)` run the production file itself, with only its
ports, folders and file paths changed, so what they prove holds for the hub's broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from canteen.provision import ProvisionError

TLS_OPTIONS = ("cafile", "certfile", "keyfile")
FILE_OPTIONS = (*TLS_OPTIONS, "password_file", "acl_file")


@dataclass(frozen=True, slots=True)
class Listener:
    """One `listener` block: its port, the address it binds (None: every one), TLS or not."""

    port: int
    address: str | None
    tls: bool


def _directives(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for line in text.splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            found.append((words[0], words[1:]))
    return found


def listeners(text: str) -> list[Listener]:
    """The listeners a Mosquitto config declares, in order."""
    blocks: list[tuple[int, str | None, set[str]]] = []
    for key, values in _directives(text):
        if key == "listener":
            address = values[1] if len(values) > 1 else None
            blocks.append((int(values[0]), address, set()))
        elif blocks:
            blocks[-1][2].add(key)
    return [Listener(port, address, "certfile" in keys) for port, address, keys in blocks]


@dataclass(frozen=True, slots=True)
class BrokerSecrets:
    """A production-like broker's files: its TLS key pair and CA, passwords and ACL.

    `canteen broker init` writes them (canteen/provision/layout.py says where).
    """

    cafile: Path
    certfile: Path
    keyfile: Path
    password_file: Path
    acl_file: Path

    def files(self) -> dict[str, Path]:
        """The paths by the name of the Mosquitto option that takes each."""
        return {name: getattr(self, name) for name in FILE_OPTIONS}


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a copy of the config runs: its ports, folders and files."""

    host: str
    plain_port: int
    tls_port: int
    include_dir: Path
    persistence_location: Path
    files: dict[str, Path]
    """cafile, certfile, keyfile, password_file, acl_file."""
    plugin: Path | None = None
    """The guard plugin's .so (broker/plugin/); None leaves the `plugin` line out."""


def localise(text: str, place: Placement) -> str:
    """The config with its listeners, folders and files moved as `place` says."""
    missing = [name for name in FILE_OPTIONS if name not in place.files]
    if missing:
        raise ProvisionError(f"the broker copy needs paths for {', '.join(missing)}")
    kinds = iter(listeners(text))
    out = []
    for line in text.splitlines():
        words = line.split()
        key = words[0] if words else ""
        if key == "listener":
            port = place.tls_port if next(kinds).tls else place.plain_port
            line = f"listener {port} {place.host}"
        elif key == "include_dir":
            line = f"include_dir {place.include_dir}"
        elif key == "persistence_location":
            line = f"persistence_location {place.persistence_location}/"
        elif key in FILE_OPTIONS:
            line = f"{key} {place.files[key]}"
        elif key == "plugin" or key.startswith("plugin_opt_"):
            # without its plugin, a plugin_opt_ line is an error to Mosquitto
            if place.plugin is None:
                line = f"# {line} (left out: no plugin path given)"
            elif key == "plugin":
                line = f"plugin {place.plugin}"
        out.append(line)
    return "\n".join(out) + "\n"
