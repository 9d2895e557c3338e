"""The rules' memory as saved: made again only for the watches changed, never missing one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.policy import DEFAULT_POLICIES
from alerts.rules import RuleBook
from alerts.store import AlertStore
from canteen.cold_units import guess_kind
from protocol import DoorReading, Status, TemperatureReading
from tests.alerts.doubles import T0, RecordingSender
from tests.alerts.test_engine import MINUTE, engine_on, reading

DEVICES = ("node-1", "node-2")
SENSORS = ("fridge-1", "fridge-2", "freezer-1", "hot-1")
CELSIUS = (-20.0, -13.0, 3.0, 6.0, 9.0, 11.0, 55.0, 65.0)
FRIDGE_KEY = "site-a/node-1/fridge-1/temperature"


def rulebook() -> RuleBook:
    return RuleBook(lambda _s, _d, sensor: DEFAULT_POLICIES[guess_kind(sensor)], UTC)


def full_text(rules: RuleBook) -> str:
    """What the engine saved before the saved form was kept a watch at a time."""
    return json.dumps(rules.state())


# One step of a hub's life: (what, device, sensor, a number); minutes pass only at "wait".
steps = st.tuples(
    st.sampled_from(("temperature", "door", "status", "denied", "skewed", "wait", "save")),
    st.sampled_from(DEVICES),
    st.sampled_from(SENSORS),
    st.integers(0, 30),
)


def take(rules: RuleBook, step: tuple[str, str, str, int], now: datetime) -> datetime:
    """Apply one step at `now`; return the time after it."""
    what, device, sensor, n = step
    if what == "temperature":
        temp = TemperatureReading(sensor=sensor, ts=now, celsius=CELSIUS[n % len(CELSIUS)])
        rules.readings("site-a", device, (temp,), now, now)
    elif what == "door":
        door = DoorReading(sensor=sensor, ts=now, open=n % 2 == 0)
        rules.readings("site-a", device, (door,), now, now)
    elif what == "skewed":  # a device clock 10 minutes behind, or right again
        rules.readings("site-a", device, (), now - timedelta(minutes=10 * (n % 2)), now)
    elif what == "status":
        faults = [s for i, s in enumerate(SENSORS) if n >> i & 1]
        synced = (None, True, False)[n % 3]
        status = Status(v=1, online=n % 5 != 0, faults=faults, clock_synced=synced)
        rules.status("site-a", device, status, now)
    elif what == "denied":
        rules.publish_denied("site-a", device, now)
    elif what == "wait":
        now += timedelta(minutes=n)
        rules.tick(now)
    else:
        assert rules.state_json() == full_text(rules)
    return now


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=60))
def test_the_saved_text_is_always_the_whole_state_however_it_changed(
    lives: list[tuple[str, str, str, int]],
) -> None:
    rules, now = rulebook(), T0
    for step in lives:
        now = take(rules, step, now)
    text = rules.state_json()
    assert text == full_text(rules), "a change since the last save is missing or stale"
    again = rulebook()
    again.restore(json.loads(text))
    assert again.state_json() == text, "a restart gives back the same memory, in order"
    assert again.state() == rules.state()


# Changes made to a watch that its rule did not look up with a reading: the tick raising a
# delay that has run out, a status clearing a probe fault, quiet clearing a refused publish.
NOT_LOOKED_UP = {
    "tick raises": [("temperature", "node-1", "fridge-1", 4), ("wait", "", "", 20)],
    "status clears a fault": [("status", "node-1", "", 1), ("status", "node-1", "", 16)],
    "quiet clears a denial": [("denied", "node-1", "", 0), ("wait", "", "", 16)],
}


@pytest.mark.parametrize("first, last", NOT_LOOKED_UP.values(), ids=NOT_LOOKED_UP.keys())
def test_a_change_made_without_a_reading_is_saved_too(
    first: tuple[str, str, str, int], last: tuple[str, str, str, int]
) -> None:
    rules = rulebook()
    now = take(rules, first, T0)
    rules.state_json()
    before = rules.state()
    take(rules, last, now)
    assert rules.state() != before, "the step changed the memory"
    assert rules.state_json() == full_text(rules)


def test_a_restored_memory_is_saved_as_it_was_with_what_changed_since() -> None:
    before = rulebook()
    take(before, ("temperature", "node-1", "fridge-1", 4), T0)  # 9 °C: an excursion begins
    take(before, ("door", "node-2", "fridge-2", 0), T0)
    after = rulebook()
    after.restore(json.loads(before.state_json()))
    assert after.state_json() == before.state_json()
    take(after, ("temperature", "node-2", "fridge-2", 4), T0 + MINUTE)
    assert json.loads(after.state_json())["site-a/node-2/fridge-2/temperature"]["since"] == (
        (T0 + MINUTE).isoformat()
    )
    assert after.state_json() == full_text(after)


def test_an_unchanged_watch_keeps_its_saved_text_and_a_changed_one_is_made_again() -> None:
    rules = rulebook()
    take(rules, ("temperature", "node-1", "fridge-1", 2), T0)  # 3 °C
    first = json.loads(rules.state_json())
    take(rules, ("temperature", "node-1", "fridge-1", 2), T0)  # the same reading again
    assert json.loads(rules.state_json()) == first
    take(rules, ("temperature", "node-1", "fridge-1", 4), T0 + MINUTE)  # 9 °C
    moved = json.loads(rules.state_json())
    assert moved[FRIDGE_KEY]["since"] == (T0 + MINUTE).isoformat()
    assert moved[FRIDGE_KEY]["value"] == 9.0


def test_a_state_changed_between_two_ticks_is_saved_at_the_next_tick(store: AlertStore) -> None:
    engine = engine_on(store, RecordingSender())
    reading(engine, T0, 4.0)
    engine.tick(T0)
    assert store.rule_state()[FRIDGE_KEY]["since"] is None
    reading(engine, T0 + MINUTE, 9.0)  # out of range: only the rules' memory moves
    assert store.rule_state()[FRIDGE_KEY]["since"] is None, "not saved on every message"
    engine.tick(T0 + MINUTE)
    assert store.rule_state()[FRIDGE_KEY]["since"] == (T0 + MINUTE).isoformat()
    assert store.rule_state() == json.loads(json.dumps(engine.rules.state()))
    reading(engine, T0 + 2 * MINUTE, 9.5)  # the same watch again, one field moved
    engine.tick(T0 + 2 * MINUTE)
    assert store.rule_state()[FRIDGE_KEY]["value"] == 9.5
    assert store.rule_state() == json.loads(json.dumps(engine.rules.state()))


def test_an_excursion_begun_after_a_save_counts_after_a_restart(store: AlertStore) -> None:
    sender = RecordingSender()
    before = engine_on(store, sender)
    reading(before, T0, 4.0)
    before.tick(T0)
    reading(before, T0 + MINUTE, 9.0)
    before.tick(T0 + MINUTE)

    after = engine_on(store, sender)  # a restart without a last flush: a power cut
    reading(after, T0 + 15 * MINUTE, 9.0)
    after.tick(T0 + 16 * MINUTE)
    [alert] = store.live()
    assert (alert.severity, alert.since) == ("critical", T0 + MINUTE)
    assert len(sender.sent) == 1
