"""Held ASGI requests under trio (``hypercorn -k trio``, or any trio-based server).

The counterparts of the asyncio pieces in :mod:`gatekeeper.state._parking`, on trio's own
primitives: a :class:`TrioLot` per ``trio.run`` (keyed by its ``TrioToken``), woken from
the watcher thread with ``TrioToken.run_sync_soon``; a :class:`TrioSpot` that waits on a
``trio.Event`` under ``move_on_after``; and :class:`TrioReading`, the read-ahead's
``receive()`` call under way, run in a system task because trio runs nothing concurrently
outside a nursery, and the hold has none to offer that would outlive it.

This module is imported only once a request is held with no asyncio loop running, so
``trio`` is always importable then: a trio run imported it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import trio

__all__ = ["TrioLot", "TrioReading", "TrioSpot", "current_token", "wait_done"]


def current_token() -> trio.lowlevel.TrioToken:
    """The running trio's token; ``RuntimeError`` outside of ``trio.run``."""
    return trio.lowlevel.current_trio_token()


class TrioLot:
    """The held requests of one trio run. Used from its thread only, except
    :meth:`unpark_all_threadsafe`."""

    __slots__ = ("__weakref__", "_waiters", "token")

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self._waiters: set[trio.Event] = set()

    def __len__(self) -> int:
        return len(self._waiters)

    def spot(self) -> TrioSpot:
        return TrioSpot(self)

    def spawn(
        self, receive: Callable[[], Awaitable[Any]], done: Callable[[TrioReading], None]
    ) -> TrioReading:
        return TrioReading(receive, done)

    def unpark_all(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            waiter.set()

    def unpark_all_threadsafe(self) -> bool:
        """Schedule :meth:`unpark_all` in the run; ``False`` once the run has finished."""
        try:
            self.token.run_sync_soon(self.unpark_all)
        except trio.RunFinishedError:
            return False
        return True


class TrioSpot:
    """One held request's place in a :class:`TrioLot`."""

    __slots__ = ("_event", "_lot")

    def __init__(self, lot: TrioLot) -> None:
        self._lot = lot
        self._event: trio.Event | None = None

    def wait(self, timeout: float) -> Awaitable[None]:
        """As :meth:`gatekeeper.state._parking.Spot.wait`: in the lot before it returns
        what to await (a coroutine here: trio's timeout is a scope around the wait)."""
        waiters = self._lot._waiters
        if self._event is not None:
            waiters.discard(self._event)
        event = self._event = trio.Event()
        waiters.add(event)
        return _wait(event, timeout)

    def leave(self) -> None:
        """As :meth:`gatekeeper.state._parking.Spot.leave`."""
        if self._event is not None:
            self._lot._waiters.discard(self._event)

    async def park(self, timeout: float) -> None:  # noqa: ASYNC109 - one signature for both
        try:
            await self.wait(timeout)
        finally:
            self.leave()

    def unpark(self) -> None:
        if self._event is not None:
            self._event.set()


async def _wait(event: trio.Event, timeout: float) -> None:  # noqa: ASYNC109 - as Spot.wait
    with trio.move_on_after(timeout):
        await event.wait()


class TrioReading:
    """A ``receive()`` call under way in a system task, with the parts of an asyncio
    future the read-ahead uses: ``cancelled``, ``exception``, ``result``, ``await``."""

    __slots__ = ("_done", "_error", "_event", "_result")

    def __init__(
        self, receive: Callable[[], Awaitable[Any]], done: Callable[[TrioReading], None]
    ) -> None:
        self._event = trio.Event()
        self._result: Any = None
        self._error: Exception | None = None
        self._done = done
        trio.lowlevel.spawn_system_task(self._run, receive, name="gatekeeper-read-ahead")

    async def _run(self, receive: Callable[[], Awaitable[Any]]) -> None:
        # Anything but Cancelled escaping a system task would crash the whole run: the
        # error belongs to the app's receive() instead. Cancelled (the run is ending)
        # propagates, as trio requires.
        try:
            self._result = await receive()
        except Exception as exc:
            self._error = exc
        self._event.set()
        self._done(self)

    def cancelled(self) -> bool:
        return False

    def exception(self) -> Exception | None:
        return self._error

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()

    async def _wait(self) -> Any:
        await self._event.wait()
        return self.result()


async def wait_done(future: concurrent.futures.Future[Any], limit: float) -> None:
    """:func:`gatekeeper.state._parking.wait_done` under trio (``limit``: its timeout)."""
    token = current_token()
    event = trio.Event()

    def settle(_: object) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(event.set)

    future.add_done_callback(settle)
    with trio.move_on_after(limit):
        await event.wait()
