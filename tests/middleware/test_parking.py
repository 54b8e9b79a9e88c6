"""ThreadSignal, LoopSignal and wake: held requests woken by a state change, none missed."""

from __future__ import annotations

import asyncio
import threading

from gatekeeper.middleware._parking import LoopSignal, ThreadSignal, wake

TIMEOUT = 5.0


def test_thread_waiter_that_took_the_event_before_a_fire_is_woken() -> None:
    signal = ThreadSignal()
    parked = threading.Event()
    woken: list[bool] = []

    def held_request() -> None:
        event = signal.event  # taken before the fire, as a held request does
        parked.set()
        woken.append(event.wait(TIMEOUT))

    waiter = threading.Thread(target=held_request)
    waiter.start()
    assert parked.wait(TIMEOUT)
    signal.fire()
    waiter.join(TIMEOUT)
    assert not waiter.is_alive()
    assert woken == [True]


def test_thread_signal_fire_from_another_thread_sets_the_old_event_only() -> None:
    signal = ThreadSignal()
    before = signal.event
    firing = threading.Thread(target=signal.fire)
    firing.start()
    firing.join(TIMEOUT)
    assert before.wait(TIMEOUT)
    after = signal.event
    assert after is not before
    assert not after.is_set()  # a waiter taking it now waits for the next change
    signal.fire()
    assert after.is_set()


async def test_fire_threadsafe_from_another_thread_wakes_every_parked_future() -> None:
    loop = asyncio.get_running_loop()
    signal = LoopSignal(loop)
    parked = [loop.create_future() for _ in range(5)]
    signal.waiters.update(parked)
    scheduled: list[bool] = []
    watcher = threading.Thread(target=lambda: scheduled.append(signal.fire_threadsafe()))
    watcher.start()

    done, pending = await asyncio.wait(parked, timeout=TIMEOUT)
    watcher.join(TIMEOUT)
    assert scheduled == [True]
    assert (len(done), pending) == (5, set())
    assert all(future.result() is None for future in parked)
    assert signal.waiters == set()

    late = loop.create_future()  # parked after the fire: waits for the next one
    signal.waiters.add(late)
    assert not late.done()
    signal.fire()
    assert late.done()


async def test_fire_wakes_the_rest_when_some_waiters_are_already_done() -> None:
    loop = asyncio.get_running_loop()
    signal = LoopSignal(loop)
    timed_out, left, still_held = loop.create_future(), loop.create_future(), loop.create_future()
    timed_out.set_result(None)  # its deadline timer completed it
    left.cancel()
    signal.waiters.update({timed_out, left, still_held})
    signal.fire()
    assert still_held.done()
    assert still_held.result() is None
    assert left.cancelled()


def test_fire_threadsafe_returns_false_once_the_loop_is_closed() -> None:
    loop = asyncio.new_event_loop()
    signal = LoopSignal(loop)
    try:
        assert signal.fire_threadsafe() is True
    finally:
        loop.close()
    assert signal.fire_threadsafe() is False


async def test_wake_on_a_done_or_missing_future_is_a_no_op() -> None:
    loop = asyncio.get_running_loop()
    wake(None)

    finished = loop.create_future()
    finished.set_result("kept")
    wake(finished)
    assert finished.result() == "kept"

    cancelled = loop.create_future()
    cancelled.cancel()
    wake(cancelled)  # set_result on it would raise InvalidStateError
    assert cancelled.cancelled()

    parked = loop.create_future()
    wake(parked)
    assert parked.done()
    assert parked.result() is None
