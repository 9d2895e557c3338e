"""The private broker and database the demo and the tests run on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from canteen.local_services import LocalInfluxDB, LocalMosquitto, ServiceError, find_program
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
