"""Parking lots: where held requests wait for the next state change, all woken at once.

In the manner of trio's ``ParkingLot``: a lot owns its waiters, a held request parks in
it, and the watcher thread unparks them all when the snapshot changes. The rule that
keeps a change from slipping by unnoticed is the same for both kinds: a held request
takes its place in the lot *before* it reads the snapshot, and the watcher stores the
new snapshot *before* it unparks. So either the request reads the new snapshot, or its
place is woken.

- :class:`ThreadLot`, for held WSGI threads: generations of ``threading.Event``. A
  ticket is the current generation; :meth:`ThreadLot.unpark_all` swaps in a new one and
  sets the old.
- :class:`LoopLot`, one per asyncio event loop (uvloop included), for held ASGI
  requests: each request gets a :class:`Spot` whose :meth:`Spot.park` waits on one
  future of its own, completed by the next :meth:`LoopLot.unpark_all` (scheduled in the
  loop by the watcher thread), by the request's deadline (the lot's
  :class:`~gatekeeper.state._deadlines.Deadlines`: one timer for them all), or by
  :meth:`Spot.unpark` (its client left). Under trio, :mod:`gatekeeper.state._trio` has
  the same on trio's primitives; :class:`LoopLots` picks the kind for the library that
  is running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol

from gatekeeper.state._deadlines import Deadlines

__all__ = [
    "LoopLot",
    "LoopLots",
    "Lot",
    "Parked",
    "Reading",
    "Spawn",
    "Spot",
    "ThreadLot",
    "wait_done",
    "wake",
]  # fmt: skip


class Reading(Protocol):
    """A ``receive()`` call under way for a held request (an asyncio task, or its trio
    counterpart): what the read-ahead asks of it."""

    def cancelled(self) -> bool: ...
    def exception(self) -> BaseException | None: ...
    def result(self) -> Any: ...
    def __await__(self) -> Generator[Any, None, Any]: ...


Spawn = Callable[[Callable[[], Awaitable[Any]], Callable[[Any], None]], Reading]
"""``spawn(receive, done)``: run ``receive()`` beside a held request, ``done(reading)``
when it returns (:meth:`Lot.spawn`)."""


class Parked(Protocol):
    """One held request's place in a lot.

    ``wait(timeout)`` takes the place at once and returns what to await (the next
    unpark, ``timeout`` or :meth:`unpark`); ``leave()`` when the hold is over.
    ``park(timeout)`` is both in one coroutine."""

    def wait(self, timeout: float) -> Awaitable[None]: ...
    def leave(self) -> None: ...
    async def park(self, timeout: float) -> None: ...
    def unpark(self) -> None: ...


class Lot(Protocol):
    """The held requests of one event loop, of whichever async library runs it."""

    def __len__(self) -> int: ...
    def spot(self) -> Parked: ...
    def spawn(
        self, receive: Callable[[], Awaitable[Any]], done: Callable[[Any], None]
    ) -> Reading: ...
    def unpark_all_threadsafe(self) -> bool: ...


class ThreadLot:
    """Held WSGI threads: ``ticket()`` before reading the snapshot, then ``wait`` on it."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def ticket(self) -> threading.Event:
        """The current generation, set by the next :meth:`unpark_all`."""
        return self._event

    def unpark_all(self) -> None:
        old, self._event = self._event, threading.Event()
        old.set()


class LoopLot:
    """The held requests of one event loop. Used from that loop's thread only, except
    :meth:`unpark_all_threadsafe`."""

    __slots__ = ("__weakref__", "_waiters", "deadlines", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # A dict, not a set: it wakes its waiters in the order they parked, so the
        # requests held longest are answered first at a release.
        self._waiters: dict[asyncio.Future[None], None] = {}
        self.deadlines = Deadlines(loop)
        """The parked waiters' deadlines."""

    def __len__(self) -> int:
        """How many requests are parked right now."""
        return len(self._waiters)

    def spot(self) -> Spot:
        """A place for one held request, parked as often as it must wait again."""
        return Spot(self)

    def spawn(
        self, receive: Callable[[], Awaitable[Any]], done: Callable[[Any], None]
    ) -> asyncio.Future[Any]:
        """Run ``receive()`` beside the held request; ``done(task)`` when it returns."""
        task = asyncio.ensure_future(receive())
        task.add_done_callback(done)
        return task

    def unpark_all(self) -> None:
        waiters, self._waiters = self._waiters, {}
        # Every deadline kept is of a waiter woken here, or of one already done.
        self.deadlines.clear()
        for waiter in waiters:
            wake(waiter)

    def unpark_all_threadsafe(self) -> bool:
        """Schedule :meth:`unpark_all` in the loop; ``False`` once the loop is closed."""
        try:
            self.loop.call_soon_threadsafe(self.unpark_all)
        except RuntimeError:
            return False
        return True


class Spot:
    """One held request's place in a :class:`LoopLot`."""

    __slots__ = ("_lot", "_waiter")

    def __init__(self, lot: LoopLot) -> None:
        self._lot = lot
        self._waiter: asyncio.Future[None] | None = None

    def wait(self, timeout: float) -> asyncio.Future[None]:
        """Take the place now and return the future to await: completed by the next
        :meth:`LoopLot.unpark_all`, in ``timeout`` seconds or by :meth:`unpark`,
        whichever comes first. A caller that read the snapshot just before cannot miss
        a change, as the lot is unparked in this loop's thread.

        Not a coroutine: the gate awaits the future itself, a frame less per held
        request. Waiting again gives up the place of the wait before; :meth:`leave`
        gives up the last."""
        lot = self._lot
        waiters = lot._waiters
        if self._waiter is not None:
            waiters.pop(self._waiter, None)
        waiter = self._waiter = lot.loop.create_future()
        waiters[waiter] = None
        lot.deadlines.add(waiter, timeout, len(waiters))
        return waiter

    def leave(self) -> None:
        """The hold is over: leave the lot (nothing to do after an unpark_all)."""
        if self._waiter is not None:
            self._lot._waiters.pop(self._waiter, None)  # the lot's now: unpark_all swaps it

    async def park(self, timeout: float) -> None:
        """:meth:`wait` then :meth:`leave`, even if cancelled."""
        try:
            await self.wait(timeout)
        finally:
            self.leave()

    def unpark(self) -> None:
        """End the current wait now: the request's client went away. (Between waits
        there is nothing to end; the gate checks its client before each one.)"""
        wake(self._waiter)


class LoopLots:
    """The lot of every event loop in the process that has held a request.

    Copy-on-write: the mapping is replaced whole under a lock, never changed in place, so
    the watcher thread can unpark over it while a loop thread registers another loop.
    """

    __slots__ = ("_lock", "_lots")

    def __init__(self) -> None:
        self._lots: dict[object, Lot] = {}
        self._lock = threading.Lock()

    def for_running_loop(self) -> Lot:
        """The running loop's lot (created on first use): an asyncio loop's, or else the
        running trio's; ``RuntimeError`` with neither."""
        key: object
        try:
            key = asyncio.get_running_loop()
        except RuntimeError:
            key = _trio_token()
        lot = self._lots.get(key)
        if lot is None:
            with self._lock:
                lot = self._lots.get(key)
                if lot is None:
                    lot = _new_lot(key)
                    self._lots = {**self._lots, key: lot}
        return lot

    def __contains__(self, lot: object) -> bool:
        return lot in self._lots.values()

    def unpark_all_threadsafe(self) -> None:
        """Unpark every loop's held requests (from the watcher thread); forget closed loops."""
        closed = [loop for loop, lot in self._lots.items() if not lot.unpark_all_threadsafe()]
        if closed:
            with self._lock:
                self._lots = {loop: lot for loop, lot in self._lots.items() if loop not in closed}


def wake(waiter: asyncio.Future[None] | None) -> None:
    """Complete ``waiter`` unless it is gone or already done."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _trio_token() -> object:
    try:
        from gatekeeper.state import _trio
    except ImportError:  # trio is not installed, so it cannot be running either
        raise RuntimeError(_NO_LOOP) from None
    try:
        return _trio.current_token()
    except RuntimeError:
        raise RuntimeError(_NO_LOOP) from None


_NO_LOOP = "gatekeeper: the ASGI gate needs a running asyncio (or uvloop) or trio event loop"


def _new_lot(key: object) -> Lot:
    if isinstance(key, asyncio.AbstractEventLoop):
        return LoopLot(key)
    from gatekeeper.state._trio import TrioLot

    return TrioLot(key)  # type: ignore[arg-type]


async def wait_done(future: concurrent.futures.Future[Any], timeout: float) -> None:
    """Wait, on the running loop, until a thread's ``future`` is done or ``timeout`` passed.

    Waits on a future of its own, never on ``future`` itself: a timeout here cancels
    only this wait, not what every other waiter waits for.
    """
    if future.done():
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _trio_token()  # the same error as a held request's, without trio running
        from gatekeeper.state import _trio

        await _trio.wait_done(future, timeout)
        return
    waiter: asyncio.Future[None] = loop.create_future()

    def settle(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wake, waiter)

    future.add_done_callback(settle)
    timer = loop.call_later(timeout, wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()
