"""ThreadLot, LoopLot, Spot and wake: held requests woken by a state change, none missed."""

from __future__ import annotations

import asyncio
import threading

from gatekeeper.state._parking import LoopLot, ThreadLot, wake

TIMEOUT = 5.0


def test_thread_waiter_that_took_its_ticket_before_an_unpark_is_woken() -> None:
    lot = ThreadLot()
    parked = threading.Event()
    woken: list[bool] = []

    def held_request() -> None:
        ticket = lot.ticket()  # taken before the unpark, as a held request does
        parked.set()
        woken.append(ticket.wait(TIMEOUT))

    waiter = threading.Thread(target=held_request)
    waiter.start()
    assert parked.wait(TIMEOUT)
    lot.unpark_all()
    waiter.join(TIMEOUT)
    assert not waiter.is_alive()
    assert woken == [True]


def test_thread_lot_unpark_from_another_thread_sets_the_old_ticket_only() -> None:
    lot = ThreadLot()
    before = lot.ticket()
    unparking = threading.Thread(target=lot.unpark_all)
    unparking.start()
    unparking.join(TIMEOUT)
    assert before.wait(TIMEOUT)
    after = lot.ticket()
    assert after is not before
    assert not after.is_set()  # a waiter taking it now waits for the next change
    lot.unpark_all()
    assert after.is_set()


async def _parked(lot: LoopLot, count: int, timeout: float = TIMEOUT) -> list[asyncio.Task[None]]:
    tasks = [asyncio.ensure_future(lot.spot().park(timeout)) for _ in range(count)]
    await asyncio.sleep(0)  # one loop step: every task runs up to its await
    assert len(lot) == count
    return tasks


async def test_unpark_threadsafe_from_another_thread_wakes_every_parked_spot() -> None:
    lot = LoopLot(asyncio.get_running_loop())
    tasks = await _parked(lot, 5)
    scheduled: list[bool] = []
    watcher = threading.Thread(target=lambda: scheduled.append(lot.unpark_all_threadsafe()))
    watcher.start()

    done, pending = await asyncio.wait(tasks, timeout=TIMEOUT)
    watcher.join(TIMEOUT)
    assert scheduled == [True]
    assert (len(done), pending) == (5, set())
    assert len(lot) == 0

    (late,) = await _parked(lot, 1)  # parked after the unpark: waits for the next one
    assert not late.done()
    lot.unpark_all()
    await asyncio.wait_for(late, TIMEOUT)


async def test_park_returns_at_its_timeout_and_leaves_the_lot() -> None:
    lot = LoopLot(asyncio.get_running_loop())
    spot = lot.spot()
    await asyncio.wait_for(spot.park(0.01), TIMEOUT)
    assert len(lot) == 0


async def test_spot_unpark_wakes_that_request_only() -> None:
    lot = LoopLot(asyncio.get_running_loop())
    leaving, staying = lot.spot(), lot.spot()
    gone = asyncio.ensure_future(leaving.park(TIMEOUT))
    held = asyncio.ensure_future(staying.park(TIMEOUT))
    await asyncio.sleep(0)
    leaving.unpark()  # its client went away
    await asyncio.wait_for(gone, TIMEOUT)
    assert not held.done()
    assert len(lot) == 1
    lot.unpark_all()
    await asyncio.wait_for(held, TIMEOUT)


async def test_unpark_all_wakes_the_rest_when_one_spot_was_cancelled() -> None:
    lot = LoopLot(asyncio.get_running_loop())
    cancelled, still_held = await _parked(lot, 2)
    cancelled.cancel()  # a request task cancelled by its server
    await asyncio.sleep(0)
    assert len(lot) == 1  # the cancelled park left the lot on its way out
    lot.unpark_all()
    await asyncio.wait_for(still_held, TIMEOUT)
    assert cancelled.cancelled()


def test_unpark_threadsafe_returns_false_once_the_loop_is_closed() -> None:
    loop = asyncio.new_event_loop()
    lot = LoopLot(loop)
    try:
        assert lot.unpark_all_threadsafe() is True
    finally:
        loop.close()
    assert lot.unpark_all_threadsafe() is False


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
