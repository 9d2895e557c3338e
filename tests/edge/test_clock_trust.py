"""Readings taken before NTP set the clock are corrected, or released as unverified."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from edge.clock_trust import ClockTrust, read_boot_id
from edge.outbox import Outbox
from protocol import TemperatureReading
from tests.edge.doubles import T0, CountingProbe, FakeLink
from tests.edge.test_agent import Monotonic, make_config

HOUR_NS = 3600 * 10**9


def _readings(count: int) -> list[TemperatureReading]:
    return [
        TemperatureReading(sensor="fridge-1", ts=T0 + timedelta(seconds=n), celsius=3.0)
        for n in range(count)
    ]


def _pending_ts(outbox: Outbox) -> list[str]:
    message = outbox.pack(1000, T0)
    assert message is not None
    return [r["ts"] for r in json.loads(message.body)["readings"]]


def test_held_readings_of_this_boot_are_shifted_by_the_clock_change(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.hold(_readings(2), "boot-1", basis_ns=5 * HOUR_NS)
    assert (outbox.held(), outbox.pending()) == (2, 0)
    # NTP moved the clock 26 hours forward (fake-hwclock had restored yesterday's time)
    assert outbox.release("boot-1", basis_ns=31 * HOUR_NS) == (2, 0)
    assert (outbox.held(), outbox.pending()) == (0, 2)
    assert _pending_ts(outbox) == ["2026-11-24T05:00:00.000Z", "2026-11-24T05:00:01.000Z"]
    assert outbox.clock_counts() == (2, 0)


def test_readings_of_an_earlier_boot_go_unchanged_marked_and_counted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.hold(_readings(1), "boot-0", basis_ns=5 * HOUR_NS)
    outbox.close()
    reopened = Outbox(tmp_path / "o.sqlite3")  # a power cut: held readings survive it
    assert reopened.held() == 1
    assert reopened.release("boot-1", basis_ns=31 * HOUR_NS) == (0, 1)
    message = reopened.pack(1000, T0)
    assert message is not None
    [reading] = json.loads(message.body)["readings"]
    assert reading["ts"] == "2026-11-23T03:00:00.000Z"
    assert reading["clock_unverified"] is True, "the hub is told the date may be wrong"
    assert reopened.clock_counts() == (0, 1)


def test_corrected_and_ordinary_readings_carry_no_mark(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.hold(_readings(1), "boot-1", basis_ns=5 * HOUR_NS)
    outbox.release("boot-1", basis_ns=31 * HOUR_NS)
    outbox.add(_readings(1))
    message = outbox.pack(1000, T0)
    assert message is not None
    assert all("clock_unverified" not in r for r in json.loads(message.body)["readings"])


def test_trust_is_asked_again_only_every_few_seconds_until_given() -> None:
    answers = [False, False, True]
    asked: list[bool | None] = []
    clock = Monotonic()

    def check() -> bool | None:
        asked.append(answers[len(asked)])
        return asked[-1]

    trust = ClockTrust(check, "boot-1", monotonic=clock)
    assert not trust.trusted()
    clock.now += 1
    assert not trust.trusted() and len(asked) == 1  # not asked again within 5 s
    clock.now += 5
    assert not trust.trusted() and len(asked) == 2
    clock.now += 5
    assert trust.trusted() and len(asked) == 3
    clock.now += 60
    assert trust.trusted() and len(asked) == 3  # once set, trusted for the boot


def test_a_system_that_cannot_tell_is_trusted() -> None:
    assert ClockTrust(lambda: None, "boot-1").trusted()


def test_boot_id_reads_the_kernel_file(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("0b6c7f3e-1d2a-4c55-9a1e-2f0f6c3a9d10\n")
    assert read_boot_id(path) == "0b6c7f3e-1d2a-4c55-9a1e-2f0f6c3a9d10"
    assert read_boot_id(tmp_path / "missing") == "unknown-boot"


def test_the_agent_holds_until_ntp_then_sends_corrected_times(tmp_path: Path) -> None:
    from edge.agent import Agent

    synced = [False]
    basis = [5 * HOUR_NS]
    clock = Monotonic()
    link = FakeLink()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    agent = Agent(
        make_config(tmp_path),
        [CountingProbe()],
        outbox,
        link,
        lambda: T0,
        monotonic=clock,
        clock_trust=ClockTrust(lambda: synced[0], "boot-1", monotonic=clock),
        clock_basis_ns=lambda: basis[0],
    )
    link.connect(agent.status_payload, agent.deliver)
    link.connected = True
    agent.step()
    assert outbox.held() == 1 and not link.telemetry()
    synced[0], basis[0] = True, basis[0] + HOUR_NS
    clock.now += 10
    agent.step()
    sent = [r["ts"] for _, m in link.telemetry() for r in m["readings"]]  # type: ignore[attr-defined]
    # the held reading was shifted one hour; the new one was stamped by a trusted clock
    assert sorted(sent) == ["2026-11-23T03:00:00.001Z", "2026-11-23T04:00:00.000Z"]
    assert outbox.held() == 0
