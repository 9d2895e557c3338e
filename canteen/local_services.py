"""Private Mosquitto and InfluxDB 1.x processes on free loopback ports.

The demo, the tests and the benchmarks all run the real broker and database, each in a
folder of its own, so nothing touches the machine's system services. A process that
cannot start says why, with its log's last lines, and how to fix it.
"""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import urllib3

from canteen.listening import listens_on
from canteen.provision.mosquitto_conf import BrokerSecrets, Placement, localise
from canteen.settings import SettingsError

BROKER_DIR = Path(__file__).resolve().parent.parent / "broker"
GUARD_PLUGIN = BROKER_DIR.parent / "build" / "broker" / "canteen_guard.so"
"""Where `scripts/setup.sh test` builds the broker's guard plugin (broker/plugin/)."""
INSTALL_HINT = "install it with `sudo apt install {package}` or run `sudo scripts/setup.sh demo`"


class ServiceError(RuntimeError):
    """A local service could not be found, started or reached."""


LISTEN_PORTS = range(20000, 32000)
"""Below Linux's ephemeral range (32768-60999): no outgoing connection takes one meanwhile."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Picked below the ephemeral range: a port the kernel hands out (bind to 0) can be taken
    by any outgoing connection between this check and the server's own bind.
    """
    for _ in range(100):
        port = random.choice(LISTEN_PORTS)  # noqa: S311 (not for security)
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def check_port_free(host: str, port: int) -> None:
    """Refuse, with the fix, a port another program already listens on."""
    with socket.socket() as sock:
        # As servers bind: connections of a stopped server lingering in TIME_WAIT are fine.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise SettingsError(
                f"port {port} on {host} is already in use ({err.strerror}): stop what runs "
                f"there or pass --port with another number"
            ) from err


def find_program(name: str, package: str) -> str:
    """The path of a system program, looking in the sbin folders too."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    found = shutil.which(name, path=search)
    if found is None:
        raise ServiceError(f"`{name}` is not installed: {INSTALL_HINT.format(package=package)}")
    return found


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the parent process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class LocalService:
    """A server process in its own folder on one loopback port; start, stop, restart.

    With `die_with_parent` the server is terminated by the kernel if the program that
    started it dies, even by SIGKILL, so a demo never leaves a broker running.
    """

    name = "service"

    def __init__(
        self, workdir: Path, port: int | None = None, *, die_with_parent: bool = False
    ) -> None:
        self.die_with_parent = die_with_parent
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.log_path = workdir / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Write the configuration before the first start."""

    def ready(self) -> bool:
        """Whether the server answers."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The process id while it runs (a benchmark reads its CPU time)."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if _accepts(self.host, self.port):
            raise ServiceError(
                f"cannot start {self.name}: port {self.port} on {self.host} is already in use"
            )
        self.prepare()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 (our own server command line)
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with status {self._process.returncode} at start; "
                    f"its log ({self.log_path}) ends:\n{_tail(self.log_path)}"
                )
            if self.ready():
                self._check_it_is_ours(self._process.pid)
                return
            time.sleep(0.05)
        self.stop()
        raise ServiceError(
            f"{self.name} did not answer on {self.host}:{self.port} within {timeout:.0f} s; "
            f"its log ({self.log_path}) ends:\n{_tail(self.log_path)}"
        )

    def _check_it_is_ours(self, pid: int) -> None:
        """Refuse a port answered by another program: ours (`pid`) lost it as it started."""
        if listens_on(pid, self.port) is not False:
            return
        self.stop()
        raise ServiceError(
            f"port {self.port} on {self.host} answers, but not from the {self.name} just "
            f"started: another program took the port as it started (its log, "
            f"{self.log_path}, ends:\n{_tail(self.log_path)}); start it again on another port"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """Kill the process at once, as a power cut would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()

    def __enter__(self) -> LocalService:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class LocalMosquitto(LocalService):
    """Mosquitto with the project's `broker/conf.d` limits, anonymous on loopback only.

    With `secrets`, it runs broker/mosquitto.conf itself instead (no anonymous access,
    password and ACL files, a TLS listener on `tls_port`), both listeners on loopback,
    with the guard plugin built at `guard_plugin` (default: `GUARD_PLUGIN`).
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        extra: str = "",
        *,
        die_with_parent: bool = False,
        secrets: BrokerSecrets | None = None,
        tls_port: int | None = None,
        guard_plugin: Path = GUARD_PLUGIN,
    ) -> None:
        super().__init__(workdir, port, die_with_parent=die_with_parent)
        self.config_path = workdir / "mosquitto.conf"
        self.extra = extra
        self.program = find_program("mosquitto", "mosquitto")
        self.secrets = secrets
        self.tls_port = (tls_port or free_port()) if secrets is not None else None
        self.pid_path = workdir / "mosquitto.pid"
        self.guard_plugin = guard_plugin

    @property
    def url(self) -> str:
        """The broker's `mqtt://` URL."""
        return f"mqtt://{self.host}:{self.port}"

    def prepare(self) -> None:
        """Write the config: the shared limits, a loopback listener, persistence here."""
        if self.secrets is not None:
            self.config_path.write_text(self._production_config(self.secrets), encoding="utf-8")
            return
        self.config_path.write_text(
            "per_listener_settings false\n"
            f"include_dir {BROKER_DIR / 'conf.d'}\n"
            "# local: one anonymous listener on loopback, state in this folder\n"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            # run as whoever started it: no privilege drop, so the state folder stays
            # writable and the kernel's parent-death signal is kept
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "log_dest stdout\n"
            f"{self.extra}\n",
            encoding="utf-8",
        )

    def _production_config(self, secrets: BrokerSecrets) -> str:
        """broker/mosquitto.conf with this broker's ports, folders and files."""
        if not self.guard_plugin.is_file():
            raise ServiceError(
                f"the broker's guard plugin {self.guard_plugin} is not built: run "
                "`sudo scripts/setup.sh test` (or broker/plugin/build.sh build/broker)"
            )
        place = Placement(
            host=self.host,
            plain_port=self.port,
            tls_port=self.tls_port or free_port(),  # always set with secrets
            include_dir=BROKER_DIR / "conf.d",
            persistence_location=self.workdir,
            files=secrets.files(),
            plugin=self.guard_plugin,
        )
        production = (BROKER_DIR / "mosquitto.conf").read_text(encoding="utf-8")
        return (
            localise(production, place)
            + "# local: no privilege drop (see the anonymous config), pid file for reloads\n"
            + f"user {getpass.getuser()}\npid_file {self.pid_path}\n{self.extra}\n"
        )

    def reload(self) -> None:
        """Make the broker re-read its password and ACL files (SIGHUP), as on a hub."""
        if self._process is None or self._process.poll() is not None:
            raise ServiceError("cannot reload mosquitto: it is not running")
        self._process.send_signal(signal.SIGHUP)

    def command(self) -> list[str]:
        """`mosquitto -c FILE`."""
        return [self.program, "-c", str(self.config_path)]

    def ready(self) -> bool:
        """Whether the listeners accept connections."""
        if self.tls_port is not None and not _accepts(self.host, self.tls_port):
            return False
        return _accepts(self.host, self.port)


class LocalInfluxDB(LocalService):
    """InfluxDB 1.x (Debian's `influxdb`) with its data, WAL and meta in one folder."""

    name = "influxd"

    def __init__(
        self, workdir: Path, port: int | None = None, *, die_with_parent: bool = False
    ) -> None:
        super().__init__(workdir, port, die_with_parent=die_with_parent)
        self.config_path = workdir / "influxdb.conf"
        self.rpc_port = free_port()
        self.program = find_program("influxd", "influxdb")
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=1.0))

    @property
    def url(self) -> str:
        """The HTTP API's URL."""
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        """Write a config that keeps everything in this folder and logs little."""
        data = self.workdir / "data"
        self.config_path.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "{self.host}:{self.rpc_port}"\n'
            "[meta]\n"
            f'  dir = "{data}/meta"\n'
            "[data]\n"
            f'  dir = "{data}/data"\n'
            f'  wal-dir = "{data}/wal"\n'
            "  query-log-enabled = false\n"
            "[http]\n"
            f'  bind-address = "{self.host}:{self.port}"\n'
            "  log-enabled = false\n"
            "[monitor]\n"
            "  store-enabled = false\n",
            encoding="utf-8",
        )

    def command(self) -> list[str]:
        """`influxd run -config FILE`."""
        return [self.program, "run", "-config", str(self.config_path)]

    def ready(self) -> bool:
        """Whether /ping answers 204."""
        try:
            return self._http.request("GET", f"{self.url}/ping").status == 204
        except urllib3.exceptions.HTTPError:
            return False


@contextlib.contextmanager
def running(service: LocalService) -> Iterator[LocalService]:
    """Start a service for the length of a `with` block."""
    service.start()
    try:
        yield service
    finally:
        service.stop()
