"""Per-process request counts: written by request threads and tasks, read by the watcher.

In-flight counts are what the migration runner's drain waits on; the held and total
counts are reported in each process's heartbeat so ``gatekeeper status`` and the runner
can say how many requests were held and released.
"""

from __future__ import annotations

import threading

from gatekeeper.modes import Mode

__all__ = ["Counters"]


class Counters:
    """Thread-safe counters (a lock, since ``+=`` on an attribute is not atomic)."""

    __slots__ = (
        "_lock",
        "held",
        "held_total",
        "inflight",
        "inflight_writes",
        "rejected_total",
        "released_total",
        "timed_out_total",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inflight = 0
        self.inflight_writes = 0
        self.held = 0
        self.held_total = 0
        self.released_total = 0
        self.rejected_total = 0
        self.timed_out_total = 0

    def enter(self, write: bool) -> None:
        with self._lock:
            self.inflight += 1
            if write:
                self.inflight_writes += 1

    def leave(self, write: bool) -> None:
        with self._lock:
            self.inflight -= 1
            if write:
                self.inflight_writes -= 1

    def hold_begin(self, cap: int) -> bool:
        """Count one more held request, unless ``cap`` are already held."""
        with self._lock:
            if self.held >= cap:
                return False
            self.held += 1
            self.held_total += 1
            return True

    def hold_end(self, released: bool, timed_out: bool = False) -> None:
        with self._lock:
            self.held -= 1
            if released:
                self.released_total += 1
            else:
                self.rejected_total += 1
            if timed_out:
                self.timed_out_total += 1

    def rejected(self) -> None:
        with self._lock:
            self.rejected_total += 1

    def drained(self, mode: Mode) -> bool:
        """Whether no request that ``mode`` would stop is still inside the app.

        Under ``readonly`` only writes matter: reads keep flowing by design.
        """
        if mode is Mode.READONLY:
            return self.inflight_writes == 0
        return self.inflight == 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "_lock"}
