"""What the gate tells its metrics backends, and the fan-out to several of them.

The gate and the watcher call a :class:`Recorder` only off the open path: when a hold
begins or ends, when a request is turned away, when the state or the connection to
Redis changes, and on the watcher's own clock. A process with no backend has none
(``None``), and pays one attribute test where a recorder would be called.
"""

from __future__ import annotations

from typing import Literal, Protocol

from gatekeeper.core.outcomes import HOLD_OUTCOMES, HoldOutcome

__all__ = [
    "HOLD_BUCKETS", "HOLD_OUTCOMES", "HoldOutcome", "MetricsBackend", "Recorder", "Recorders"
]  # fmt: skip

MetricsBackend = Literal["prometheus", "otel"]
"""A value of the ``metrics`` option."""

HOLD_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0,
    45.0, 60.0,
)  # fmt: skip
"""Upper bounds of the hold-duration histogram, in seconds: fine where a code-only
deploy's holds end (milliseconds), then up past ``hold_timeout``'s default (15 s) and a
migration's usual ``--max-hold`` to 60 s; a longer hold counts in ``+Inf`` only."""


class Recorder(Protocol):
    """One metrics backend (:mod:`gatekeeper.observe`). Every method must be cheap and
    must never raise: it runs in request threads, tasks and the watcher thread."""

    def hold_began(self) -> None: ...

    def hold_ended(self, outcome: HoldOutcome, seconds: float) -> None:
        """A hold that began ended (every outcome but ``capacity``)."""

    def hold_refused(self) -> None:
        """A request to be held found ``max_held`` requests held already."""

    def rejected(self, reason: str) -> None:
        """A 503 was answered; ``reason`` is the verdict's wire name (``hold-timeout``)."""

    def handed_off(self) -> None:
        """A redirect to the new release was answered."""

    def keepalive_closed(self) -> None:
        """A response asked its client to close the connection: keep-alive is off (a
        reload is coming)."""

    def state(self, mode: str) -> None:
        """The mode this process now obeys."""

    def connected(self, up: bool) -> None:
        """Whether this process's watcher hears Redis."""

    def confirmed(self, at: float) -> None:
        """Redis confirmed the state at ``at`` (``time.time()``)."""

    def tick(self, now: float, inflight: int) -> None:
        """The watcher's clock (at least every 0.25 s while Redis answers, every second
        while it does not): for the figures that change with time."""


class Recorders:
    """Several backends as one (Prometheus and OpenTelemetry both)."""

    __slots__ = ("_all",)

    def __init__(self, recorders: tuple[Recorder, ...]) -> None:
        self._all = recorders

    def hold_began(self) -> None:
        for r in self._all:
            r.hold_began()

    def hold_ended(self, outcome: HoldOutcome, seconds: float) -> None:
        for r in self._all:
            r.hold_ended(outcome, seconds)

    def hold_refused(self) -> None:
        for r in self._all:
            r.hold_refused()

    def rejected(self, reason: str) -> None:
        for r in self._all:
            r.rejected(reason)

    def handed_off(self) -> None:
        for r in self._all:
            r.handed_off()

    def keepalive_closed(self) -> None:
        for r in self._all:
            r.keepalive_closed()

    def state(self, mode: str) -> None:
        for r in self._all:
            r.state(mode)

    def connected(self, up: bool) -> None:
        for r in self._all:
            r.connected(up)

    def confirmed(self, at: float) -> None:
        for r in self._all:
            r.confirmed(at)

    def tick(self, now: float, inflight: int) -> None:
        for r in self._all:
            r.tick(now, inflight)
