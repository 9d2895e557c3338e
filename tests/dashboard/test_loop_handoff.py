"""The broker feed's hand-over to the event loop: in order, in batches, nothing left behind."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from dashboard.mqtt_feed import LoopHandoff

Take = Callable[[int], None]
Putter = Callable[[LoopHandoff, Take], None]


def run_with_loop(
    monkeypatch: pytest.MonkeyPatch, putter: Putter, window_s: float
) -> tuple[list[int], int]:
    """Run `putter` on a thread of its own; what the loop took, in order, and its wake-ups."""
    took: list[int] = []
    wakeups = 0

    async def main() -> None:
        loop = asyncio.get_running_loop()
        wake = loop.call_soon_threadsafe

        def counted(*args: Any) -> Any:
            nonlocal wakeups
            wakeups += 1
            return wake(*args)

        monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
        thread = threading.Thread(target=putter, args=(LoopHandoff(loop, window_s), took.append))
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.005)
        await asyncio.sleep(3 * window_s)  # the last batch's window

    # A loop on a thread of its own: the browser tests leave one running on this thread.
    runner = threading.Thread(target=asyncio.run, args=(main(),))
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the event loop did not finish in 30 s"
    return took, wakeups


def test_calls_from_another_thread_run_in_order_with_one_wakeup_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def put_all(handoff: LoopHandoff, take: Take) -> None:
        for number in range(5_000):
            handoff.put(take, number)

    took, wakeups = run_with_loop(monkeypatch, put_all, window_s=0.05)

    assert took == list(range(5_000))
    assert 1 <= wakeups < 50, f"{wakeups} wake-ups for 5,000 calls"


def test_a_call_put_after_a_batch_was_taken_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    def put_after_each_ran(handoff: LoopHandoff, take: Take) -> None:
        done: list[int] = []
        for number in range(6):
            handoff.put(lambda n: (take(n), done.append(n)), number)
            deadline = time.monotonic() + 5
            while len(done) <= number and time.monotonic() < deadline:
                time.sleep(0.001)  # each call a batch of its own

    took, wakeups = run_with_loop(monkeypatch, put_after_each_ran, window_s=0.005)

    assert took == list(range(6))
    assert wakeups == 6


def test_a_failing_call_does_not_stop_the_rest_of_its_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(_number: int) -> None:
        raise ValueError("a bad message")

    def put_mixed(handoff: LoopHandoff, take: Take) -> None:
        handoff.put(take, 1)
        handoff.put(fail, 2)
        handoff.put(take, 3)

    took, _ = run_with_loop(monkeypatch, put_mixed, window_s=0.05)

    assert took == [1, 3]


def test_a_call_after_a_quiet_spell_runs_at_once_and_one_soon_after_waits_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window_s = 0.5
    waited: list[float] = []

    def put_timed(handoff: LoopHandoff, take: Take) -> None:
        for number, quiet_s in enumerate((0.0, window_s + 0.1, 0.0)):
            time.sleep(quiet_s)
            ran = threading.Event()
            put_at = time.monotonic()
            handoff.put(lambda n, ran=ran: (take(n), ran.set()), number)
            assert ran.wait(5)
            waited.append(time.monotonic() - put_at)

    took, _ = run_with_loop(monkeypatch, put_timed, window_s)

    assert took == [0, 1, 2]
    first, after_quiet, soon_after = waited
    assert first < window_s / 2, "the first call waited for a window"
    assert after_quiet < window_s / 2, "a call after a quiet spell waited for a window"
    assert soon_after > window_s * 0.9, "two batches were taken within one window"
