"""sd_notify: READY once, WATCHDOG at half the interval, nothing outside systemd."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.systemd_notify import SystemdNotifier

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(2)
    yield sock
    sock.close()


def _received(sock: socket.socket) -> list[bytes]:
    sock.setblocking(False)
    messages = []
    while True:
        try:
            messages.append(sock.recv(100))
        except BlockingIOError:
            return messages


def test_ready_then_watchdog_pings_at_half_the_interval(notify_socket: socket.socket) -> None:
    now = [100.0]
    notifier = SystemdNotifier(
        {"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "60000000"},
        monotonic=lambda: now[0],
    )
    assert notifier.interval_s == 30.0
    notifier.ready()
    for step in range(0, 91, 5):  # the loop goes round every 5 s for 90 s
        now[0] = 100.0 + step
        notifier.alive()
    notifier.stopping()
    assert _received(notify_socket) == [
        b"READY=1",
        b"WATCHDOG=1",  # at 0 s
        b"WATCHDOG=1",  # 30 s
        b"WATCHDOG=1",  # 60 s
        b"WATCHDOG=1",  # 90 s
        b"STOPPING=1",
    ]


def test_outside_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.active
    notifier.ready()
    notifier.alive()
    notifier.stopping()


def test_the_edge_unit_uses_the_watchdog_and_an_unprivileged_user() -> None:
    unit = (REPO / "deploy/systemd/canteen-edge@.service").read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["Type"] == "notify"
    assert int(settings["WatchdogSec"]) > 0
    assert settings["Restart"] == "always"
    assert settings["User"] == "canteen-edge"
    assert set(settings["SupplementaryGroups"].split()) >= {"gpio", "video"}
    assert "--config /etc/canteen/%i.yaml" in settings["ExecStart"]


def test_systemd_reads_the_edge_unit_without_a_complaint(tmp_path: Path) -> None:
    """`systemd-analyze verify` flags unknown keys and bad values that systemd would ignore."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (it is on Raspberry Pi OS)")
    unit = (REPO / "deploy/systemd/canteen-edge@.service").read_text(encoding="utf-8")
    # verify wants the program to exist: the venv lives in /opt/canteen only on a Pi
    instance = tmp_path / "canteen-edge@edge.service"
    instance.write_text(unit.replace("/opt/canteen/.venv/bin/canteen", "/bin/true"))
    done = subprocess.run(
        [analyze, "verify", str(instance)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
