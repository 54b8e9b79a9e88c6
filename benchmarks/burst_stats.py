"""The burst section's statistics over one round's records (pure, unit-tested).

See :mod:`benchmarks.burst` for what a round is; here a request *arrived* at its send
time (its scheduled time if it was never sent), its latency runs from the scheduled
arrival to the last byte, and a failure is any request without a 2xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from benchmarks.stats import median, percentile
from tools.openloop import Record

__all__ = ["WINDOW_S", "aggregate", "burst_stats", "nginx_stats"]

WINDOW_S = 2.0
"""Post-release arrivals: sent within this many seconds after the release."""


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _arrival(record: Record) -> float:
    return record.sent if record.sent is not None else record.scheduled


def _ok(record: Record) -> bool:
    return record.error is None and 200 <= record.status < 300


def burst_stats(
    records: Sequence[Record], hold_at: float, release_at: float, window: float = WINDOW_S
) -> dict[str, Any]:
    """One round's figures. ``hold_at`` and ``release_at`` are on the records' clock
    (seconds since the run's ``t0``, :meth:`tools.openloop.Result.clock`).

    ``held``: arrivals in ``[hold_at, release_at)``; ``post``: arrivals in
    ``[release_at, release_at + window)``, their latency p50 / p99 / max;
    ``drain_ms``: from the release to the end of the last answered request that arrived
    before it (0 when it ended before the release); failures: no 2xx, by kind.
    """
    failed = [r for r in records if not _ok(r)]
    kinds = Counter(r.error or f"status {r.status}" for r in failed)
    held = [r for r in records if hold_at <= _arrival(r) < release_at]
    post = [r for r in records if release_at <= _arrival(r) < release_at + window]
    post_latency = [r.latency for r in post if _ok(r) and r.latency is not None]
    before_ends = [r.end for r in records if _arrival(r) < release_at and r.end is not None]
    latencies = [r.latency for r in records if _ok(r) and r.latency is not None]
    lateness = [r.sent - r.scheduled for r in records if r.sent is not None]
    post_lateness = [r.sent - r.scheduled for r in post if r.sent is not None]
    last_before = max(before_ends, default=None)
    return {
        "requests": len(records),
        "failed": len(failed),
        "failures": dict(sorted(kinds.items())),
        "writes": sum(r.method == "POST" for r in records),
        "hold_s": round(release_at - hold_at, 4),
        "held": len(held),
        "post_n": len(post),
        "post_p50_ms": _ms(percentile(post_latency, 50)),
        "post_p99_ms": _ms(percentile(post_latency, 99)),
        "post_max_ms": _ms(max(post_latency, default=None)),
        "drain_ms": None if last_before is None else _ms(max(0.0, last_before - release_at)),
        "max_latency_ms": _ms(max(latencies, default=None)),
        "lateness_max_ms": _ms(max(lateness, default=0.0)),
        "post_lateness_max_ms": _ms(max(post_lateness, default=0.0)),
    }


def nginx_stats(
    timings: Sequence[tuple[float, float, int]],
    release_at: float,
    window: float = WINDOW_S,
) -> dict[str, Any]:
    """The proxy's view of one round: ``timings`` are ``(start, seconds, status)`` per
    request (epoch, from nginx's ``$msec - $request_time``: 1 ms resolution).

    ``nginx_post_*``: requests nginx read within ``window`` after the release, their
    time in nginx; ``nginx_drain_ms``: from the release to the end of the last request
    nginx read before it.
    """
    post = [took for start, took, _ in timings if release_at <= start < release_at + window]
    before = [start + took for start, took, _ in timings if start < release_at]
    last = max(before, default=None)
    return {
        "nginx_requests": len(timings),
        "nginx_non_2xx": sum(1 for _, _, status in timings if not 200 <= status < 300),
        "nginx_post_n": len(post),
        "nginx_post_p50_ms": _ms(percentile(post, 50)),
        "nginx_post_p99_ms": _ms(percentile(post, 99)),
        "nginx_post_max_ms": _ms(max(post, default=None)),
        "nginx_drain_ms": None if last is None else _ms(max(0.0, last - release_at)),
    }


def aggregate(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Over a scenario's rounds: failures summed, medians of the per-round p50 / p99 /
    drain / held, and the largest max."""

    def values(key: str) -> list[float]:
        return [r[key] for r in rounds if r.get(key) is not None]

    def top(key: str) -> float | None:
        return max(values(key), default=None)

    failures: Counter[str] = Counter()
    for r in rounds:
        failures.update(r["failures"])
    return {
        "rounds": len(rounds),
        "requests": sum(r["requests"] for r in rounds),
        "failed": sum(r["failed"] for r in rounds),
        "failures": dict(sorted(failures.items())),
        "held": median(values("held")),
        "gate_held": median(values("gate_held")),
        "post_n": median(values("post_n")),
        "post_p50_ms": median(values("post_p50_ms")),
        "post_p99_ms": median(values("post_p99_ms")),
        "post_max_ms": top("post_max_ms"),
        "drain_ms": median(values("drain_ms")),
        "drain_max_ms": top("drain_ms"),
        "max_latency_ms": top("max_latency_ms"),
        "lateness_max_ms": top("lateness_max_ms"),
        "post_lateness_max_ms": top("post_lateness_max_ms"),
        "nginx_post_p50_ms": median(values("nginx_post_p50_ms")),
        "nginx_post_p99_ms": median(values("nginx_post_p99_ms")),
        "nginx_post_max_ms": top("nginx_post_max_ms"),
        "nginx_drain_ms": median(values("nginx_drain_ms")),
        "nginx_non_2xx": sum(r.get("nginx_non_2xx", 0) for r in rounds),
        "hold_s": median(values("hold_s")),
    }
