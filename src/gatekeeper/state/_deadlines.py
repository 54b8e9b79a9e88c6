"""The deadlines of one event loop's parked requests, on one timer for the earliest.

A held request parks until the next state change or its deadline. A timer of the loop's
own per park (``call_later``) costs ~580 B for each request held and a cancel at each
release, when thousands are released at once. :class:`Deadlines` keeps every deadline
in a heap and one timer for the earliest: most requests are held the same
``hold_timeout``, so a new one's deadline is the latest and the timer stays as it is.

Each waiter still leaves at its own deadline: when the timer fires it completes the
waiters that are due, then is set again for the next deadline. An entry whose waiter was
completed otherwise (its client left, its task was cancelled) stays in the heap, its
``set_result`` skipped, until its deadline passes, the heap is cleared (an unpark of the
whole lot completes every waiter) or it is compacted as it outgrows its waiters.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["EARLY", "Deadlines"]

EARLY = 0.001
"""How early a deadline may be met: loop timers may fire a little before theirs (uvloop
keeps time in milliseconds, and rounds), and a deadline that close is met then, not on a
timer set again for the rest. A request woken that early waits out the rest in the gate."""

_SLACK = 64
"""Entries beyond twice the waiters parked before the heap is compacted."""


class Deadlines:
    """One loop's deadlines (used from that loop's thread only)."""

    __slots__ = ("_heap", "_loop", "_order", "_timer", "_timer_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties broken in order of arrival, not by futures
        # The timer's own when() is not asked: uvloop answers a call_at less than half a
        # millisecond ahead with a plain Handle (call_soon), which has none.
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        """Deadlines kept, including any of a waiter already completed otherwise."""
        return len(self._heap)

    @property
    def next_at(self) -> float | None:
        """When the timer fires next (loop time); ``None`` with no timer set."""
        return None if self._timer is None else self._timer_at

    def add(self, waiter: asyncio.Future[None], timeout: float, parked: int) -> None:
        """Complete ``waiter`` in ``timeout`` seconds, unless it is done by then.

        ``parked``: how many waiters the loop has parked; with far more entries than
        that, the heap is rid of those whose waiters are done."""
        heap = self._heap
        if len(heap) > 2 * parked + _SLACK:
            heap = self._heap = [entry for entry in heap if not entry[2].done()]
            heapq.heapify(heap)
        when = self._loop.time() + timeout
        heapq.heappush(heap, (when, next(self._order), waiter))
        timer = self._timer
        if timer is None or when < self._timer_at:
            if timer is not None:
                timer.cancel()
            self._set(when)

    def clear(self) -> None:
        """Forget every deadline and the timer: their waiters are all being completed."""
        self._heap = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        heap = self._heap
        due = self._loop.time() + EARLY
        while heap and heap[0][0] <= due:
            waiter = heapq.heappop(heap)[2]
            if not waiter.done():
                waiter.set_result(None)
        if heap:
            self._set(heap[0][0])

    def _set(self, when: float) -> None:
        self._timer = self._loop.call_at(when, self._expire)
        self._timer_at = when
