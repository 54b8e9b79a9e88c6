"""Metrics of what the gate does: Prometheus (``gatekeeper-deploy[prometheus]``) and
OpenTelemetry (``opentelemetry-api``), each optional, chosen with the ``metrics`` option.

Neither library is imported unless its backend is asked for: this package imports only
the recorder interface. See the README, "Observing a deploy".
"""

from __future__ import annotations

import threading

from gatekeeper.observe._recorder import (
    HOLD_BUCKETS,
    HOLD_OUTCOMES,
    HoldOutcome,
    MetricsBackend,
    Recorder,
    Recorders,
)

__all__ = [
    "HOLD_BUCKETS",
    "HOLD_OUTCOMES",
    "HoldOutcome",
    "MetricsBackend",
    "Recorder",
    "recorder_for",
]

_otel: Recorder | None = None
_lock = threading.Lock()


def recorder_for(backends: tuple[MetricsBackend, ...]) -> Recorder | None:
    """The process's recorder for ``backends`` (``None`` for none). Call it in the
    process that serves requests: the Prometheus backend's files are per process."""
    global _otel
    recorders: list[Recorder] = []
    for backend in backends:
        if backend == "prometheus":
            from gatekeeper.observe._prometheus import prometheus_recorder

            recorders.append(prometheus_recorder())
        else:
            with _lock:
                if _otel is None:
                    from gatekeeper.observe._otel import OtelRecorder

                    _otel = OtelRecorder()
                recorders.append(_otel)
    if not recorders:
        return None
    return recorders[0] if len(recorders) == 1 else Recorders(tuple(recorders))
