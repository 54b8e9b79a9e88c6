"""Waking every held request of a process at once when the state changes.

Each change replaces a shared "generation" object and sets the old one, so a waiter
that took the current generation before reading the snapshot cannot miss a change: the
writer stores the new snapshot *before* swapping generations.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["LoopSignal", "ThreadSignal", "wake"]


class ThreadSignal:
    """Generations as ``threading.Event`` objects, for held WSGI threads."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()

    def fire(self) -> None:
        old, self.event = self.event, threading.Event()
        old.set()


class LoopSignal:
    """The held requests of one event loop, woken together on a state change.

    Each held request parks one future of its own here; :meth:`fire` (run in the loop's
    thread, scheduled by the watcher thread with ``call_soon_threadsafe``) completes them
    all. Registering happens in the loop's thread too, right after the request read the
    snapshot and with no ``await`` between, so a change cannot slip in unnoticed. The
    same future is completed by the request's deadline timer or by its client leaving:
    one future per held request, nothing else.
    """

    __slots__ = ("__weakref__", "loop", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiters: set[asyncio.Future[None]] = set()

    def fire(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            wake(waiter)

    def fire_threadsafe(self) -> bool:
        """Schedule :meth:`fire` in the loop; ``False`` once the loop is closed."""
        try:
            self.loop.call_soon_threadsafe(self.fire)
        except RuntimeError:
            return False
        return True


def wake(waiter: asyncio.Future[None] | None) -> None:
    """Complete ``waiter`` unless it is gone or already done."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
