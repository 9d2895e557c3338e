"""The alert rules on explicit times: delays, hysteresis, doors, defrost, silence, devices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.kinds import AlertChange, AlertKey, AlertKind, Severity
from alerts.policy import DEFAULT_POLICIES, OFFLINE_GRACE, DefrostWindow, UnitPolicy
from alerts.rules import RuleBook
from canteen.cold_units import guess_kind
from protocol import DoorReading, Status, TemperatureReading

SITE, DEVICE = "site-a", "node-1"
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 11:00 in the kitchen
KITCHEN = ZoneInfo("Asia/Shanghai")


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def rulebook(policies: dict[str, UnitPolicy] | None = None) -> RuleBook:
    """Rules with the kitchen defaults by probe name, and any unit overridden."""
    own = policies or {}
    return RuleBook(
        lambda _site, _device, sensor: own.get(sensor) or DEFAULT_POLICIES[guess_kind(sensor)],
        KITCHEN,
    )


def temperature(
    rules: RuleBook,
    sensor: str,
    at: datetime,
    celsius: float,
    sent: datetime | None = None,
    received: datetime | None = None,
) -> list[AlertChange]:
    """A reading taken `at`, sent `sent` by the device clock, received (by default) `at`."""
    reading = TemperatureReading(sensor=sensor, ts=at, celsius=celsius)
    return rules.readings(SITE, DEVICE, (reading,), sent or at, received or at)


def door(rules: RuleBook, sensor: str, at: datetime, is_open: bool) -> list[AlertChange]:
    return rules.readings(SITE, DEVICE, (DoorReading(sensor=sensor, ts=at, open=is_open),), at, at)


def hold(
    rules: RuleBook, sensor: str, celsius: float, first: float, last: float, every: float = 5
) -> list[AlertChange]:
    """A reading every few minutes from `first` to `last` (minutes after T0), each then a tick."""
    changes: list[AlertChange] = []
    n = first
    while n <= last:
        changes += temperature(rules, sensor, minutes(n), celsius) + rules.tick(minutes(n))
        n += every
    return changes


def summary(changes: list[AlertChange]) -> list[tuple[str, str, str, str, datetime]]:
    """(action, kind, sensor, severity, since) of each change."""
    return [(c.action, c.key.kind, c.key.sensor, c.severity, c.since) for c in changes]


def key(sensor: str, kind: AlertKind) -> AlertKey:
    return AlertKey(SITE, DEVICE, sensor, kind)


def test_fridge_warns_only_after_30_minutes_above_5() -> None:
    rules = rulebook()
    for n in range(0, 30, 5):
        assert temperature(rules, "fridge-1", minutes(n), 6.0) == []
    assert rules.tick(minutes(29.9)) == []
    assert summary(rules.tick(minutes(30))) == [("raise", "temperature", "fridge-1", "warning", T0)]
    assert rules.tick(minutes(31)) == [], "a raised alert is not raised again"
    assert rules.raised() == {key("fridge-1", AlertKind.TEMPERATURE): Severity.WARNING}


def test_fridge_at_5_exactly_is_not_beyond_the_limit() -> None:
    rules = rulebook()
    temperature(rules, "fridge-1", T0, 5.0)
    assert temperature(rules, "fridge-1", minutes(60), 5.0) == []
    assert rules.tick(minutes(61)) == []


def test_fridge_is_critical_after_15_minutes_above_8() -> None:
    rules = rulebook()
    assert temperature(rules, "fridge-1", T0, 9.0) == []
    assert temperature(rules, "fridge-1", minutes(10), 9.5) == []
    assert rules.tick(minutes(14.9)) == []
    changes = rules.tick(minutes(15))
    assert summary(changes) == [("raise", "temperature", "fridge-1", "critical", T0)]
    assert changes[0].value == 9.5


def test_fridge_warning_becomes_critical_with_the_excursion_start_kept() -> None:
    rules = rulebook()
    temperature(rules, "fridge-1", T0, 6.0)
    assert summary(temperature(rules, "fridge-1", minutes(30), 6.5)) == [
        ("raise", "temperature", "fridge-1", "warning", T0)
    ]
    temperature(rules, "fridge-1", minutes(40), 9.0)
    assert rules.tick(minutes(54)) == []
    assert summary(rules.tick(minutes(55))) == [
        ("raise", "temperature", "fridge-1", "critical", T0)
    ]


def test_fridge_above_10_is_critical_at_once() -> None:
    rules = rulebook()
    assert temperature(rules, "fridge-1", T0, 10.0) == [], "10.0 is not above 10"
    changes = temperature(rules, "fridge-1", minutes(1), 10.5)
    assert summary(changes) == [("raise", "temperature", "fridge-1", "critical", T0)]
    assert changes[0].value == 10.5


def test_freezer_warns_above_minus_15_and_is_critical_above_minus_12() -> None:
    rules = rulebook()
    assert hold(rules, "freezer-1", -16.0, 0, 115) == []
    assert hold(rules, "freezer-1", -14.0, 120, 145) == []
    assert summary(hold(rules, "freezer-1", -14.0, 150, 150)) == [
        ("raise", "temperature", "freezer-1", "warning", minutes(120))
    ]
    assert hold(rules, "freezer-1", -11.0, 151, 165) == []
    assert summary(hold(rules, "freezer-1", -11.0, 166, 166)) == [
        ("raise", "temperature", "freezer-1", "critical", minutes(120))
    ]


def test_hot_holding_is_critical_below_60_and_never_a_warning() -> None:
    rules = rulebook()
    assert hold(rules, "hot-1", 62.0, 0, 30) == []
    assert hold(rules, "hot-1", 60.0, 35, 60) == [], "60 °C is not below 60"
    assert hold(rules, "hot-1", 58.0, 65, 79) == []
    assert summary(hold(rules, "hot-1", 58.0, 80, 80)) == [
        ("raise", "temperature", "hot-1", "critical", minutes(65))
    ]


def test_a_warning_does_not_clear_inside_the_hysteresis() -> None:
    rules = rulebook()
    temperature(rules, "fridge-1", T0, 6.0)
    temperature(rules, "fridge-1", minutes(30), 6.0)
    assert rules.raised() == {key("fridge-1", AlertKind.TEMPERATURE): Severity.WARNING}
    assert temperature(rules, "fridge-1", minutes(31), 4.8) == [], "4.8 is within 0.5 of 5"
    assert rules.raised() == {key("fridge-1", AlertKind.TEMPERATURE): Severity.WARNING}
    assert summary(temperature(rules, "fridge-1", minutes(32), 4.4)) == [
        ("clear", "temperature", "fridge-1", "warning", minutes(32))
    ]
    assert rules.raised() == {}


def test_hot_holding_clears_only_a_degree_above_60() -> None:
    rules = rulebook()
    temperature(rules, "hot-1", T0, 55.0)
    assert summary(rules.tick(minutes(15)))[0][:2] == ("raise", "temperature")
    assert temperature(rules, "hot-1", minutes(16), 60.5) == []
    assert summary(temperature(rules, "hot-1", minutes(17), 61.0)) == [
        ("clear", "temperature", "hot-1", "warning", minutes(17))
    ]


def test_a_door_open_spike_shorter_than_the_delays_raises_nothing() -> None:
    rules = rulebook()
    temperature(rules, "fridge-1", T0, 3.5)
    assert door(rules, "fridge-1", minutes(1), True) == []
    assert temperature(rules, "fridge-1", minutes(2), 9.0) == []
    assert rules.tick(minutes(4)) == []
    assert door(rules, "fridge-1", minutes(4.5), False) == []
    assert temperature(rules, "fridge-1", minutes(6), 4.0) == []
    for n in range(6, 60, 5):
        temperature(rules, "fridge-1", minutes(n), 4.0)
        assert rules.tick(minutes(n)) == []
    assert rules.raised() == {}


def test_a_door_open_longer_than_5_minutes_raises_door_open_and_closing_clears_it() -> None:
    rules = rulebook()
    assert door(rules, "fridge-1", T0, True) == []
    assert door(rules, "fridge-1", minutes(2), True) == [], "still open: the start is kept"
    assert rules.tick(minutes(4.9)) == []
    assert summary(rules.tick(minutes(5))) == [("raise", "door_open", "fridge-1", "warning", T0)]
    assert rules.tick(minutes(6)) == []
    assert summary(door(rules, "fridge-1", minutes(7), False)) == [
        ("clear", "door_open", "fridge-1", "warning", minutes(7))
    ]


def test_a_defrost_window_rests_the_temperature_rule() -> None:
    # 11:00 to 11:30 in Shanghai is 03:00 to 03:30 UTC: T0 is the window's start.
    defrosting = UnitPolicy(
        warning_c=5.0,
        critical_c=8.0,
        immediate_c=10.0,
        defrost=(DefrostWindow(start=time(11, 0), minutes=30),),
    )
    rules = rulebook(
        {"fridge-1": defrosting, "fridge-2": defrosting.model_copy(update={"defrost": ()})}
    )
    assert temperature(rules, "fridge-1", minutes(-10), 9.0) == [], "warm before the window"
    for n in range(0, 30, 5):
        assert temperature(rules, "fridge-1", minutes(n), 9.0) == []
        temperature(rules, "fridge-2", minutes(n), 9.0)
    assert rules.tick(minutes(29.5)) == []
    assert rules.raised() == {key("fridge-2", AlertKind.TEMPERATURE): Severity.CRITICAL}, (
        "the same readings without the window are critical"
    )
    # after the window the delay starts again from the first reading outside it
    assert temperature(rules, "fridge-1", minutes(30), 9.0) == []
    assert rules.tick(minutes(44)) == []
    assert summary(rules.tick(minutes(45))) == [
        ("raise", "temperature", "fridge-1", "critical", minutes(30))
    ]


def test_a_sensor_silent_for_30_minutes_raises_and_its_next_reading_clears() -> None:
    rules = rulebook()
    temperature(rules, "fridge-1", T0, 3.0)
    assert rules.tick(minutes(29.9)) == []
    assert summary(rules.tick(minutes(30))) == [
        ("raise", "sensor_silent", "fridge-1", "warning", T0)
    ]
    assert rules.tick(minutes(40)) == []
    assert summary(temperature(rules, "fridge-1", minutes(41), 3.0)) == [
        ("clear", "sensor_silent", "fridge-1", "warning", minutes(41))
    ]


def test_a_device_is_offline_after_its_last_will_and_the_grace() -> None:
    assert timedelta(minutes=5) == OFFLINE_GRACE
    rules = rulebook()
    temperature(rules, "fridge-1", T0, 3.0)
    assert rules.status(SITE, DEVICE, Status(v=1, online=False), minutes(1)) == []
    assert rules.tick(minutes(3)) == []
    # the retained last will again (a reconnecting hub): still offline since minute 1
    assert rules.status(SITE, DEVICE, Status(v=1, online=False), minutes(3)) == []
    assert rules.tick(minutes(5.9)) == []
    assert summary(rules.tick(minutes(6))) == [
        ("raise", "device_offline", "", "warning", minutes(1))
    ]
    # an offline device's probes are not silent on top of it
    assert rules.tick(minutes(45)) == []
    birth = Status(v=1, online=True, ts=minutes(50))
    assert summary(rules.status(SITE, DEVICE, birth, minutes(50))) == [
        ("clear", "device_offline", "", "warning", minutes(50))
    ]


def test_a_device_back_within_the_grace_raises_nothing() -> None:
    rules = rulebook()
    rules.status(SITE, DEVICE, Status(v=1, online=False), T0)
    assert rules.tick(minutes(4)) == []
    assert rules.status(SITE, DEVICE, Status(v=1, online=True, ts=minutes(4.5)), minutes(4.5)) == []
    assert rules.tick(minutes(5)) == []
    assert rules.tick(minutes(20)) == []
    assert rules.raised() == {}


def test_probe_faults_in_the_status_raise_and_clear() -> None:
    rules = rulebook()
    faulty = Status(v=1, online=True, faults=["fridge-2", "freezer-1"])
    assert summary(rules.status(SITE, DEVICE, faulty, T0)) == [
        ("raise", "probe_fault", "freezer-1", "warning", T0),
        ("raise", "probe_fault", "fridge-2", "warning", T0),
    ]
    assert rules.status(SITE, DEVICE, faulty, minutes(1)) == [], "not raised twice"
    mended = Status(v=1, online=True, faults=["freezer-1"])
    assert summary(rules.status(SITE, DEVICE, mended, minutes(2))) == [
        ("clear", "probe_fault", "fridge-2", "warning", minutes(2))
    ]
    assert summary(rules.status(SITE, DEVICE, Status(v=1, online=True), minutes(3))) == [
        ("clear", "probe_fault", "freezer-1", "warning", minutes(3))
    ]


def test_the_at_once_limit_holds_during_defrost() -> None:
    defrosting = UnitPolicy(
        warning_c=5.0,
        critical_c=8.0,
        immediate_c=10.0,
        defrost=(DefrostWindow(start=time(11, 0), minutes=30),),
    )
    rules = rulebook({"fridge-1": defrosting})
    assert temperature(rules, "fridge-1", minutes(5), 9.0) == [], "defrost warms a little"
    assert summary(temperature(rules, "fridge-1", minutes(10), 12.0)) == [
        ("raise", "temperature", "fridge-1", "critical", minutes(10))
    ], "a defrost never warms a fridge above 10 °C: that is a failure, said at once"


def test_a_clock_off_by_more_than_2_minutes_for_5_minutes_raises_and_clears_with_hysteresis() -> (
    None
):
    rules = rulebook()
    assert temperature(rules, "fridge-1", T0, 3.0, sent=T0 - timedelta(minutes=2)) == []
    late = timedelta(seconds=150)
    assert temperature(rules, "fridge-1", minutes(1), 3.0, sent=minutes(1) - late) == []
    assert temperature(rules, "fridge-1", minutes(5.9), 3.0, sent=minutes(5.9) - late) == []
    changes = temperature(rules, "fridge-1", minutes(6), 3.0, sent=minutes(6) - late)
    assert summary(changes) == [("raise", "clock", "", "warning", minutes(1))]
    assert changes[0].value == 150.0
    assert (
        temperature(rules, "fridge-1", minutes(7), 3.0, sent=minutes(7) + timedelta(seconds=90))
        == []
    ), "90 s is not clearly right again"
    assert summary(temperature(rules, "fridge-1", minutes(8), 3.0, sent=minutes(8))) == [
        ("clear", "clock", "", "warning", minutes(8))
    ]


def test_messages_the_broker_kept_during_a_hub_outage_raise_no_clock_alert() -> None:
    rules = rulebook()
    # The hub was down for 20 minutes: the queued messages arrive over 90 s, all late.
    for n in range(90):
        sent = T0 + timedelta(seconds=n * 13)
        received = minutes(20) + timedelta(seconds=n)
        assert temperature(rules, "fridge-1", sent, 3.0, sent=sent, received=received) == []
    live = minutes(21.6)
    assert temperature(rules, "fridge-1", live, 3.0, sent=live, received=live) == []
    assert rules.tick(minutes(40)) == []
    assert rules.raised() == {}


def test_a_status_saying_the_clock_is_synced_does_not_clear_a_measured_skew() -> None:
    rules = rulebook()
    late = timedelta(minutes=10)
    for n in range(0, 7):
        temperature(rules, "fridge-1", minutes(n), 3.0, sent=minutes(n) - late)
    assert key("", AlertKind.CLOCK) in rules.raised()
    synced = Status(v=1, online=True, clock_synced=True)
    assert rules.status(SITE, DEVICE, synced, minutes(7)) == [], "no flapping"
    assert key("", AlertKind.CLOCK) in rules.raised()


def test_a_device_saying_its_clock_is_not_synced_for_5_minutes_raises_a_clock_alert() -> None:
    rules = rulebook()
    unsynced = Status(v=1, online=True, clock_synced=False)
    assert rules.status(SITE, DEVICE, unsynced, T0) == [], "a Pi just booted syncs in a minute"
    assert summary(rules.status(SITE, DEVICE, unsynced, minutes(5))) == [
        ("raise", "clock_unsynced", "", "warning", T0)
    ]
    synced = Status(v=1, online=True, clock_synced=True)
    assert summary(rules.status(SITE, DEVICE, synced, minutes(6))) == [
        ("clear", "clock_unsynced", "", "warning", minutes(6))
    ]


def test_state_and_restore_keep_the_excursion_start_across_a_restart() -> None:
    before = rulebook()
    temperature(before, "fridge-1", T0, 9.0)
    temperature(before, "fridge-1", minutes(10), 9.0)
    saved = json.loads(json.dumps(before.state()))

    after = rulebook()
    after.restore(saved)
    assert temperature(after, "fridge-1", minutes(14), 9.0) == []
    assert summary(after.tick(minutes(15))) == [
        ("raise", "temperature", "fridge-1", "critical", T0)
    ], "the 10 minutes before the restart count towards the 15"


def test_restore_keeps_what_was_raised_so_nothing_is_raised_twice() -> None:
    before = rulebook()
    temperature(before, "fridge-1", T0, 9.0)
    assert summary(before.tick(minutes(15)))[0][3] == "critical"
    before.status(SITE, DEVICE, Status(v=1, online=True, faults=["fridge-2"]), minutes(15))

    after = rulebook()
    after.restore(json.loads(json.dumps(before.state())))
    assert after.raised() == before.raised()
    assert temperature(after, "fridge-1", minutes(20), 9.5) == []
    assert after.tick(minutes(40)) == []
    status = Status(v=1, online=True, faults=["fridge-2"])
    assert after.status(SITE, DEVICE, status, minutes(41)) == []
    assert summary(temperature(after, "fridge-1", minutes(42), 4.0)) == [
        ("clear", "temperature", "fridge-1", "warning", minutes(42))
    ]
