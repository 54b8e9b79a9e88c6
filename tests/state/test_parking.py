"""ThreadLot, the lots of asyncio and trio, their spots and wake: held requests woken by
a state change, none missed. The lot tests run under both libraries (``run_async``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import pytest
import sniffio
import trio

from gatekeeper.state._parking import LoopLot, LoopLots, Lot, Parked, ThreadLot, wake
from gatekeeper.state._trio import TrioLot

TIMEOUT = 5.0
PARKED = 60.0
"""How long a :class:`Held` parks: past ``TIMEOUT``, so only an unpark wakes it in time."""


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


class Held:
    """One held request parked in a task of its own: ``woken`` is set once its park
    returned; ``scope`` cancels it, as a server cancels a request's task."""

    def __init__(self, spot: Parked) -> None:
        self.spot = spot
        self.woken = anyio.Event()
        self.scope = anyio.CancelScope()

    async def run(self) -> None:
        with self.scope:
            await self.spot.park(PARKED)
            self.woken.set()

    async def wait_woken(self) -> None:
        with anyio.fail_after(TIMEOUT):
            await self.woken.wait()


async def _parked(tasks: anyio.abc.TaskGroup, lot: Lot, count: int) -> list[Held]:
    held = [Held(lot.spot()) for _ in range(count)]
    for request in held:
        tasks.start_soon(request.run)
    await anyio.wait_all_tasks_blocked()  # every task has run up to its park's wait
    assert len(lot) == count
    return held


def test_lots_for_running_loop_gives_the_running_librarys_lot_then_forgets_it(
    run_async: Callable[..., Any],
) -> None:
    lots = LoopLots()

    async def scenario() -> Lot:
        lot = lots.for_running_loop()
        if sniffio.current_async_library() == "trio":
            assert isinstance(lot, TrioLot)
            assert lot.token is trio.lowlevel.current_trio_token()
        else:
            assert isinstance(lot, LoopLot)
            assert lot.loop is asyncio.get_running_loop()
        assert lots.for_running_loop() is lot
        assert lot in lots
        return lot

    lot = run_async(scenario)
    lots.unpark_all_threadsafe()  # its run has ended: forgotten
    assert lot not in lots
    with pytest.raises(RuntimeError, match="needs a running asyncio"):
        lots.for_running_loop()


def test_unpark_threadsafe_from_another_thread_wakes_every_parked_spot(
    run_async: Callable[..., Any],
) -> None:
    async def scenario() -> None:
        lot = LoopLots().for_running_loop()
        async with anyio.create_task_group() as tasks:
            held = await _parked(tasks, lot, 5)
            scheduled: list[bool] = []
            watcher = threading.Thread(target=lambda: scheduled.append(lot.unpark_all_threadsafe()))
            watcher.start()
            for request in held:
                await request.wait_woken()
            watcher.join(TIMEOUT)
            assert scheduled == [True]
            assert len(lot) == 0

            # parked after the unpark: waits for the next one
            (late,) = await _parked(tasks, lot, 1)
            assert not late.woken.is_set()
            lot.unpark_all()  # type: ignore[attr-defined]
            await late.wait_woken()

    run_async(scenario)


def test_park_returns_at_its_timeout_and_leaves_the_lot(run_async: Callable[..., Any]) -> None:
    async def scenario() -> None:
        lot = LoopLots().for_running_loop()
        with anyio.fail_after(TIMEOUT):
            await lot.spot().park(0.01)
        assert len(lot) == 0

    run_async(scenario)


def test_spots_parked_with_different_deadlines_each_return_at_their_own(
    run_async: Callable[..., Any],
) -> None:
    # The later deadline parks first: the earlier one, parked next, must not wait for it
    # (asyncio: the lot's one timer is set again, earlier), nor the later leave with it.
    async def scenario() -> None:
        lot = LoopLots().for_running_loop()
        started = anyio.current_time()
        returned: dict[float, float] = {}

        async def held(deadline: float) -> None:
            await lot.spot().park(deadline)
            returned[deadline] = anyio.current_time() - started

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(held, 0.4)
                await anyio.wait_all_tasks_blocked()
                tasks.start_soon(held, 0.1)
        assert list(returned) == [0.1, 0.4]
        for deadline, elapsed in returned.items():
            assert deadline - 0.002 <= elapsed < deadline + 0.25  # a timer may fire 1 ms early
        assert len(lot) == 0

    run_async(scenario)


def test_a_deadline_under_a_millisecond_returns_and_later_ones_still_do(
    run_async: Callable[..., Any],
) -> None:
    # A request woken just before its deadline (EARLY) parks again for what is left,
    # often under a millisecond: uvloop's call_at then gives a plain Handle, which has no
    # when(). Seen as 500s from uvicorn near deadlines, in the handoff's paced hold.
    async def scenario() -> None:
        lot = LoopLots().for_running_loop()
        returned: list[float] = []

        async def held(deadline: float) -> None:
            await lot.spot().park(deadline)
            returned.append(deadline)

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tasks:
                # Parked in one pass of the loop: the second finds the first one's timer.
                for deadline in (0.0002, 0.0001, 0.05, 0.00001):
                    tasks.start_soon(held, deadline)
        assert sorted(returned) == [0.00001, 0.0001, 0.0002, 0.05]
        assert len(lot) == 0

    run_async(scenario)


async def test_unpark_all_answers_the_requests_held_longest_first() -> None:
    # asyncio runs woken tasks in the order they were woken; trio shuffles each batch of
    # runnable tasks on purpose, so the order is asyncio's to keep, not trio's.
    lot = LoopLot(asyncio.get_running_loop())
    order: list[int] = []

    async def held(n: int) -> None:
        await lot.spot().park(PARKED)
        order.append(n)

    tasks = []
    for n in range(200):
        tasks.append(asyncio.ensure_future(held(n)))
        await asyncio.sleep(0)  # each parks before the next arrives
    assert len(lot) == 200
    lot.unpark_all()
    await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert order == list(range(200))


async def test_unpark_all_clears_the_loops_deadlines_and_their_timer() -> None:
    lot = LoopLot(asyncio.get_running_loop())
    async with anyio.create_task_group() as tasks:
        held = await _parked(tasks, lot, 3)
        assert len(lot.deadlines) == 3
        assert lot.deadlines.next_at is not None
        lot.unpark_all()
        assert len(lot.deadlines) == 0
        assert lot.deadlines.next_at is None  # cancelled: nothing left to fire in 60 s
        for request in held:
            await request.wait_woken()


async def test_deadlines_of_spots_woken_early_do_not_pile_up() -> None:
    # Each request's client leaves (Spot.unpark) long before its deadline: the heap is
    # compacted as it outgrows the parked waiters, not kept until those deadlines pass.
    lot = LoopLot(asyncio.get_running_loop())
    async with anyio.create_task_group() as tasks:
        for _ in range(500):
            (leaving,) = await _parked(tasks, lot, 1)
            leaving.spot.unpark()
            await leaving.wait_woken()
        assert len(lot) == 0
        assert len(lot.deadlines) <= 2 * 1 + 64 + 1
        (staying,) = await _parked(tasks, lot, 1)
        lot.unpark_all()
        await staying.wait_woken()


def test_a_spot_that_waits_again_has_one_place_and_leave_gives_it_up(
    run_async: Callable[..., Any],
) -> None:
    # The gate's loop: wait, wake (here at the deadline), decide, wait again, then leave.
    async def scenario() -> None:
        lot = LoopLots().for_running_loop()
        spot = lot.spot()
        with anyio.fail_after(TIMEOUT):
            await spot.wait(0.01)
            assert len(lot) == 1  # its place is kept until it waits again or leaves
            waiting = spot.wait(0.01)
            assert len(lot) == 1
            await waiting
        spot.leave()
        assert len(lot) == 0
        spot.leave()  # twice, or after an unpark_all: nothing left to give up
        assert len(lot) == 0

    run_async(scenario)


def test_spot_unpark_wakes_that_request_only(run_async: Callable[..., Any]) -> None:
    async def scenario() -> None:
        lot = LoopLots().for_running_loop()
        async with anyio.create_task_group() as tasks:
            leaving, staying = await _parked(tasks, lot, 2)
            leaving.spot.unpark()  # its client went away
            await leaving.wait_woken()
            await anyio.wait_all_tasks_blocked()
            assert not staying.woken.is_set()
            assert len(lot) == 1
            lot.unpark_all()  # type: ignore[attr-defined]
            await staying.wait_woken()

    run_async(scenario)


def test_unpark_all_wakes_the_rest_when_one_spot_was_cancelled(
    run_async: Callable[..., Any],
) -> None:
    async def scenario() -> None:
        lot = LoopLots().for_running_loop()
        async with anyio.create_task_group() as tasks:
            cancelled, still_held = await _parked(tasks, lot, 2)
            cancelled.scope.cancel()  # a request task cancelled by its server
            await anyio.wait_all_tasks_blocked()
            assert len(lot) == 1  # the cancelled park left the lot on its way out
            lot.unpark_all()  # type: ignore[attr-defined]
            await still_held.wait_woken()
        assert cancelled.scope.cancelled_caught
        assert not cancelled.woken.is_set()

    run_async(scenario)


def test_unpark_threadsafe_returns_false_once_the_loop_is_closed() -> None:
    loop = asyncio.new_event_loop()
    lot = LoopLot(loop)
    try:
        assert lot.unpark_all_threadsafe() is True
    finally:
        loop.close()
    assert lot.unpark_all_threadsafe() is False


def test_trio_lot_unpark_threadsafe_returns_false_once_the_run_has_finished() -> None:
    async def lot_of_this_run() -> Lot:
        lot = LoopLots().for_running_loop()
        assert isinstance(lot, TrioLot)
        assert lot.unpark_all_threadsafe() is True
        return lot

    lot = trio.run(lot_of_this_run)
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
