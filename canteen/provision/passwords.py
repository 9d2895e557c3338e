"""Mosquitto's password file, written with Mosquitto's own `mosquitto_passwd`.

The password goes to the tool on its standard input, never on its command line, where
any user of the hub could read it in the process list.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from canteen.provision import ProvisionError
from canteen.provision.layout import write_private

PASSWORD_BYTES = 32
"""secrets.token_urlsafe(32): 43 characters, 256 bits; URL-safe, so no quoting in a URL."""


def new_password() -> str:
    """A long random password."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def find_mosquitto_passwd() -> str:
    """The path of `mosquitto_passwd` (Debian package `mosquitto`)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/local/bin"])
    found = shutil.which("mosquitto_passwd", path=search)
    if found is None:
        raise ProvisionError(
            "`mosquitto_passwd` is not installed: install it with `sudo apt install mosquitto` "
            "(it ships the tool) or run this on the hub"
        )
    return found


class PasswordFile:
    """The broker's password file: one hashed password per login."""

    def __init__(self, path: Path, program: str | None = None) -> None:
        self.path = path
        self.program = program or find_mosquitto_passwd()

    def create(self) -> None:
        """Write an empty password file unless one exists."""
        if not self.path.exists():
            write_private(self.path, b"")

    def users(self) -> list[str]:
        """The logins in the file."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line.split(":", 1)[0] for line in lines if ":" in line]

    def set(self, username: str, password: str) -> None:
        """Add the login, or change its password."""
        self.create()
        self._run([self.path.as_posix(), username], f"{password}\n{password}\n")

    def delete(self, username: str) -> None:
        """Remove the login; nothing to do if it is not there."""
        if username in self.users():
            self._run(["-D", self.path.as_posix(), username], "")

    def _run(self, args: list[str], stdin: str) -> None:
        try:
            done = subprocess.run(  # noqa: S603  (our tool, fixed arguments, no shell)
                [self.program, *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as err:
            raise ProvisionError(f"cannot run {self.program}: {err}") from err
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            raise ProvisionError(
                f"mosquitto_passwd failed on {self.path} (exit {done.returncode}): {output}; "
                "check that the file is writable and was made by mosquitto_passwd"
            )
        os.chmod(self.path, 0o600)  # the tool keeps the mode it finds; make sure of it
