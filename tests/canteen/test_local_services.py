"""The private broker and database the demo and the tests run on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from canteen.listening import listens_on
from canteen.local_services import (
    LocalInfluxDB,
    LocalMosquitto,
    LocalService,
    ServiceError,
    find_program,
)
from tests.waiting import wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.integration
def test_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from canteen.local_services import LocalInfluxDB, LocalMosquitto
        broker = LocalMosquitto(Path({str(tmp_path)!r}) / "m", die_with_parent=True)
        database = LocalInfluxDB(Path({str(tmp_path)!r}) / "i", die_with_parent=True)
        broker.start(); database.start()
        print(broker._process.pid, database._process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=20, message="servers gone")


@pytest.mark.integration
def test_restart_keeps_port_and_retained_state(tmp_path: Path) -> None:
    broker = LocalMosquitto(tmp_path / "m")
    broker.start()
    port = broker.port
    broker.restart()
    assert broker.port == port and broker.running
    broker.stop()
    assert not broker.running


@pytest.mark.integration
def test_a_taken_port_is_refused_rather_than_mistaken_for_our_server(tmp_path: Path) -> None:
    first = LocalInfluxDB(tmp_path / "a")
    first.start()
    try:
        second = LocalInfluxDB(tmp_path / "b", port=first.port)
        with pytest.raises(ServiceError, match=rf"port {first.port} .* already in use"):
            second.start()
        assert not second.running
    finally:
        first.stop()


@pytest.mark.integration
def test_a_server_that_exits_at_start_shows_its_log(tmp_path: Path) -> None:
    broker = LocalMosquitto(tmp_path / "m", extra="no_such_option 1")
    started = time.monotonic()
    with pytest.raises(ServiceError, match=r"(?s)mosquitto exited .*no_such_option"):
        broker.start()
    assert time.monotonic() - started < 10


def test_a_missing_program_names_the_package_to_install() -> None:
    with pytest.raises(ServiceError, match=r"sudo apt install no-such-package"):
        find_program("no-such-program-here", "no-such-package")


class _Server(LocalService):
    """A stand-in server: a Python process that listens on its port, or only sleeps."""

    name = "stand-in"

    def __init__(self, workdir: Path, *, listens: bool, foreign: bool = False) -> None:
        super().__init__(workdir)
        self.listens, self.foreign = listens, foreign
        self.other: socket.socket | None = None

    def command(self) -> list[str]:
        if not self.listens:
            return [sys.executable, "-c", "import time; time.sleep(60)"]
        code = (
            "import socket, time; s = socket.socket(); "
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('127.0.0.1', {self.port})); s.listen(); time.sleep(60)"
        )
        return [sys.executable, "-c", code]

    def prepare(self) -> None:
        if self.foreign:  # another program takes the port between the check and the start
            self.other = socket.create_server(("127.0.0.1", self.port))

    def ready(self) -> bool:
        try:
            socket.create_connection((self.host, self.port), timeout=0.2).close()
        except OSError:
            return False
        return True


def test_a_port_answered_by_another_program_is_refused(tmp_path: Path) -> None:
    server = _Server(tmp_path, listens=False, foreign=True)
    try:
        with pytest.raises(ServiceError, match="not from the stand-in just started"):
            server.start()
        assert not server.running  # ours is stopped, not left behind
    finally:
        if server.other is not None:
            server.other.close()


def test_a_server_that_listens_itself_is_started(tmp_path: Path) -> None:
    server = _Server(tmp_path, listens=True)
    server.start()
    try:
        assert server.pid is not None and listens_on(server.pid, server.port) is True
        assert listens_on(os.getpid(), server.port) is False
    finally:
        server.stop()
