"""Per-process request counts: written by request threads and tasks, read by the watcher.

In-flight counts are what the migration runner's drain waits on; the held and total
counts are reported in each process's heartbeat so ``gatekeeper status`` and the runner
can say how many requests were held and released.
"""

from __future__ import annotations

import threading
import time

from gatekeeper.core.modes import Mode

__all__ = ["BALLAST", "Counters"]

BALLAST = 64
"""Entries each in-flight list starts with, never popped. A list that falls to a few
entries or none is shrunk by ``pop`` and grown again by the next ``append``: two
reallocs per request, 0.5k instructions of a hello world's 110k under uvicorn
(callgrind). Above the ballast it only shrinks after some 50 requests were inside at
once."""


class Counters:
    """Request counts of one process.

    The in-flight counts sit on every request's path, so they take no lock: each is a
    list holding one ``None`` per request inside the app, appended on the way in and
    popped on the way out (both atomic under the GIL, and allocating nothing, unlike
    counting with ints), its length less :data:`BALLAST` the count. The list of all
    requests is public, :attr:`inside`, so that the ASGI open path counts a read with no
    method call of its own (a call is a quarter of what the gate costs a hello-world
    request under uvicorn). The hold counts, off the open path, use a lock.
    """

    __slots__ = (
        "_lock",
        "_writes_inside",
        "client_gone_total",
        "handed_off_total",
        "held",
        "held_since",
        "held_total",
        "held_writes",
        "inside",
        "longest_wait",
        "rejected_total",
        "released_total",
        "timed_out_total",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside: list[None] = [None] * BALLAST
        """:data:`BALLAST` entries, then one per request inside the app: ``append(None)``
        in, ``pop()`` out."""
        self._writes_inside: list[None] = [None] * BALLAST
        self.held = 0
        self.held_writes = 0
        self.held_total = 0
        self.released_total = 0
        self.rejected_total = 0
        self.timed_out_total = 0
        self.handed_off_total = 0
        self.client_gone_total = 0
        self.longest_wait = 0.0
        """Seconds of the longest hold that ended since :meth:`new_hold_period`."""
        self.held_since: float | None = None
        """When the process went from holding nothing to holding (``time.time()``),
        ``None`` while it holds nothing: how long the oldest held request may have waited
        (exactly, when a release lets every held request go at once)."""

    def enter(self, write: bool) -> None:
        self.inside.append(None)
        if write:
            self._writes_inside.append(None)

    def leave(self, write: bool) -> None:
        self.inside.pop()
        if write:
            self._writes_inside.pop()

    @property
    def inflight(self) -> int:
        return len(self.inside) - BALLAST

    @property
    def inflight_writes(self) -> int:
        return len(self._writes_inside) - BALLAST

    def hold_begin(self, cap: int, write_cap: int | None = None) -> bool:
        """Count one more held request, unless ``cap`` are already held; a write held
        under ``write_cap`` (the thread-based servers' cap) counts apart as well."""
        with self._lock:
            if self.held >= cap:
                return False
            if write_cap is not None:
                if self.held_writes >= write_cap:
                    return False
                self.held_writes += 1
            if self.held == 0:
                self.held_since = time.time()
            self.held += 1
            self.held_total += 1
            return True

    def hold_end(
        self,
        released: bool,
        timed_out: bool = False,
        write: bool = False,
        handed_off: bool = False,
        gone: bool = False,
        waited: float = 0.0,
    ) -> None:
        """Count a hold out. ``gone``: its client left (no answer was sent, so it is not
        a rejection); ``waited``: its length in seconds, for :attr:`longest_wait`."""
        with self._lock:
            self.held -= 1
            if self.held == 0:
                self.held_since = None
            if write:
                self.held_writes -= 1
            if released:
                self.released_total += 1
            elif handed_off:
                self.handed_off_total += 1
            elif gone:
                self.client_gone_total += 1
            else:
                self.rejected_total += 1
            if timed_out:
                self.timed_out_total += 1
            if waited > self.longest_wait:
                self.longest_wait = waited

    def hold_released(self, waited: float = 0.0) -> None:
        """:meth:`hold_end` of a hold (not a write's) that ended in a pass: how most
        end, thousands at once at a release, so kept to a lock and a few counts."""
        with self._lock:
            self.held -= 1
            if self.held == 0:
                self.held_since = None
            self.released_total += 1
            if waited > self.longest_wait:
                self.longest_wait = waited

    def new_hold_period(self) -> None:
        """The gate left ``open``: :attr:`longest_wait` counts this period's holds only,
        so that a runner reads the longest wait of its own run."""
        with self._lock:
            self.longest_wait = 0.0

    def rejected(self) -> None:
        with self._lock:
            self.rejected_total += 1

    def handed_off(self) -> None:
        with self._lock:
            self.handed_off_total += 1

    def drained(self, mode: Mode) -> bool:
        """Whether no request that ``mode`` would stop is still inside the app.

        Under ``readonly`` only writes matter: reads keep flowing by design.
        """
        if mode is Mode.READONLY:
            return self.inflight_writes == 0
        return self.inflight == 0

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "inflight": self.inflight,
            "inflight_writes": self.inflight_writes,
            "held": self.held,
            "held_total": self.held_total,
            "released_total": self.released_total,
            "rejected_total": self.rejected_total,
            "timed_out_total": self.timed_out_total,
            "handed_off_total": self.handed_off_total,
            "client_gone_total": self.client_gone_total,
            "longest_wait": round(self.longest_wait, 4),
            "held_since": None if self.held_since is None else round(self.held_since, 3),
        }
