"""Waking every held request of a process at once when the state changes.

Each change replaces a shared "generation" object and sets the old one, so a waiter
that took the current generation before reading the snapshot cannot miss a change: the
writer stores the new snapshot *before* swapping generations.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["LoopSignal", "ThreadSignal"]


class ThreadSignal:
    """Generations as ``threading.Event`` objects, for held WSGI threads."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()

    def fire(self) -> None:
        old, self.event = self.event, threading.Event()
        old.set()


class LoopSignal:
    """Generations as futures of one event loop, for held ASGI tasks.

    ``fire`` must run in the loop's thread; the watcher thread schedules it with
    ``call_soon_threadsafe``. Waiters pass ``future`` to ``asyncio.wait`` (no task per
    waiter), and a cancelled waiter removes only its own callback.
    """

    __slots__ = ("__weakref__", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def fire(self) -> None:
        old, self.future = self.future, self.loop.create_future()
        if not old.done():
            old.set_result(None)

    def fire_threadsafe(self) -> bool:
        """Schedule :meth:`fire` in the loop; ``False`` once the loop is closed."""
        try:
            self.loop.call_soon_threadsafe(self.fire)
        except RuntimeError:
            return False
        return True
