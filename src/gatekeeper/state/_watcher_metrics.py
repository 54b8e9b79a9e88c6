"""What the watcher tells the process's metrics recorder (:mod:`gatekeeper.observe`).

One object whether or not a backend is configured, so that the watcher's calls stay
one line each; with no backend every call returns at once. The recorder is made when
the watcher thread starts: in the process that serves requests, not in a pre-fork
server's parent, whose Prometheus files would outlive it (a ``livemin`` gauge of 0 in a
parent's file would say Redis is lost for ever).
"""

from __future__ import annotations

import time

from gatekeeper.observe import MetricsBackend, Recorder, recorder_for
from gatekeeper.state.counters import Counters

__all__ = ["WatcherMetrics"]

_TICK = 0.25
"""Seconds between updates of the figures that change with time (the state's age)."""


class WatcherMetrics:
    __slots__ = ("_backends", "_next_tick", "_recorder")

    def __init__(self, backends: tuple[MetricsBackend, ...]) -> None:
        self._backends = backends
        self._recorder: Recorder | None = None
        self._next_tick = 0.0

    def start(self) -> Recorder | None:
        """Make the recorder (in the watcher thread); the gate reads it from then on."""
        if self._backends and self._recorder is None:
            self._recorder = recorder_for(self._backends)
        return self._recorder

    def state(self, mode: str) -> None:
        if self._recorder is not None:
            self._recorder.state(mode)

    def connected(self, up: bool) -> None:
        if self._recorder is not None:
            self._recorder.connected(up)

    def confirmed(self) -> None:
        if self._recorder is not None:
            self._recorder.confirmed(time.time())

    def tick(self, counters: Counters) -> None:
        if self._recorder is None:
            return
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + _TICK
            self._recorder.tick(time.time(), counters.inflight)
