"""The Prometheus backend: ``prometheus_client`` metrics, right under pre-fork servers.

Under a server with several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty
directory, the same for every worker of one host) before the server starts:
``prometheus_client`` then keeps each process's values in files there, and a scrape of
any worker (``metrics_path``) or of the standalone exporter adds them up. That mode has
no ``Enum`` and no ``Info``, so the state is a 0/1 gauge per state, and each gauge says
how processes combine (``multiprocess_mode``):

- ``gatekeeper_requests_held``, ``gatekeeper_requests_in_flight``: ``livesum``.
- ``gatekeeper_state{state}``: ``livemax``, 1 where any live process obeys that state
  (two are 1 for the moment a change takes to reach every process).
- ``gatekeeper_redis_connected``: ``livemin``, 0 if any live process lost Redis.
- ``gatekeeper_state_age_seconds``: ``livemax``, the worst process's.

A ``live`` gauge's file goes when its process is marked dead: gunicorn's ``child_exit``
hook does it (:mod:`gatekeeper.contrib.gunicorn`), and every process that starts its
metrics here does it for the processes of the directory that are no longer alive (so a
uvicorn worker that replaced a dead one clears it). Counters and the histogram keep the
dead processes' counts, as totals must.
"""

from __future__ import annotations

import glob
import os
import re
import threading

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.multiprocess import mark_process_dead

from gatekeeper.core.modes import Mode
from gatekeeper.observe._recorder import HOLD_BUCKETS, HOLD_OUTCOMES, HoldOutcome
from gatekeeper.observe.exposition import multiprocess_dir

__all__ = ["PrometheusRecorder", "clear_dead_processes", "prometheus_recorder"]

_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db$")


def clear_dead_processes(path: str) -> list[int]:
    """Mark dead the processes of ``path`` whose pid no longer runs; their pids."""
    dead: list[int] = []
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_FILE.search(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not _alive(pid) and pid not in dead:
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
            dead.append(pid)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class PrometheusRecorder:
    """The metrics, and their label children made once (a ``labels()`` call per hold
    would cost more than the observation)."""

    def __init__(self) -> None:
        self.held = Gauge(
            "gatekeeper_requests_held", "Requests held by the gate now.",
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.in_flight = Gauge(
            "gatekeeper_requests_in_flight",
            "Requests inside the app now, as the drain counts them (updated by the watcher).",
            multiprocess_mode="livesum",
        )
        self.duration = Histogram(
            "gatekeeper_hold_duration_seconds",
            "How long held requests waited, whatever the outcome.",
            buckets=HOLD_BUCKETS,
        )
        outcomes = Counter(
            "gatekeeper_hold_outcomes", "Requests the gate meant to hold, by outcome.",
            ["outcome"],
        )  # fmt: skip
        self.outcomes = {name: outcomes.labels(outcome=name) for name in HOLD_OUTCOMES}
        self._rejected = Counter(
            "gatekeeper_rejected", "503 answers of the gate, by reason.", ["reason"]
        )
        self._reasons: dict[str, Counter] = {}
        self.handoffs = Counter(
            "gatekeeper_handoffs", "Requests redirected to the new release (handoff)."
        )
        self.keepalive_closes = Counter(
            "gatekeeper_keepalive_closes",
            "Responses that closed their connection because keep-alive was off (a reload).",
        )
        state = Gauge(
            "gatekeeper_state", "1 for the state the gate obeys (a label per state).",
            ["state"], multiprocess_mode="livemax",
        )  # fmt: skip
        self.states = {mode.value: state.labels(state=mode.value) for mode in Mode}
        self.redis_connected = Gauge(
            "gatekeeper_redis_connected", "1 while the watcher hears Redis, else 0.",
            multiprocess_mode="livemin",
        )  # fmt: skip
        self.state_age = Gauge(
            "gatekeeper_state_age_seconds",
            "Seconds since Redis last confirmed the state (updated by the watcher).",
            multiprocess_mode="livemax",
        )
        self._confirmed: float | None = None
        self._current = ""

    def hold_began(self) -> None:
        self.held.inc()

    def hold_ended(self, outcome: HoldOutcome, seconds: float) -> None:
        self.held.dec()
        self.duration.observe(seconds)
        self.outcomes[outcome].inc()

    def hold_refused(self) -> None:
        self.outcomes["capacity"].inc()

    def rejected(self, reason: str) -> None:
        child = self._reasons.get(reason)
        if child is None:
            # Reasons are the gate's own wire names (a closed set), never request text.
            child = self._reasons[reason] = self._rejected.labels(reason=reason)
        child.inc()

    def handed_off(self) -> None:
        self.handoffs.inc()

    def keepalive_closed(self) -> None:
        self.keepalive_closes.inc()

    def state(self, mode: str) -> None:
        if mode == self._current:
            return
        for name, child in self.states.items():
            child.set(1 if name == mode else 0)
        self._current = mode

    def connected(self, up: bool) -> None:
        self.redis_connected.set(1 if up else 0)

    def confirmed(self, at: float) -> None:
        self._confirmed = at

    def tick(self, now: float, inflight: int) -> None:
        self.in_flight.set(inflight)
        if self._confirmed is not None:
            self.state_age.set(max(0.0, now - self._confirmed))


_made: PrometheusRecorder | None = None
_lock = threading.Lock()


def prometheus_recorder() -> PrometheusRecorder:
    """The process's recorder: metrics register once per process (a second registration
    of a name is an error in ``prometheus_client``)."""
    global _made
    with _lock:
        if _made is None:
            path = multiprocess_dir()
            if path is not None and os.path.isdir(path):
                clear_dead_processes(path)
            _made = PrometheusRecorder()
        return _made
