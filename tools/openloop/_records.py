"""What an open-loop run records: one :class:`Record` per arrival, and their summary.

Times on a record are seconds on the run's own clock, from its ``t0``;
:meth:`Result.epoch` and :meth:`Result.clock` convert to and from wall-clock time, for
comparing with what a test or a deploy stamped (``time.time()``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from tools.stats import percentile

__all__ = ["ERROR_KINDS", "Record", "Result", "Summary"]

ERROR_KINDS = ("connect", "reset", "eof", "timeout", "protocol", "redirect")


@dataclass
class Record:
    """One arrival. Times are seconds since the run's ``t0``; ``None`` when not reached.

    ``status`` is 0 when no response came, and then ``error`` says why. ``reused`` is
    whether the request went on a connection that had carried an earlier one.
    ``request_id`` is sent as ``X-Request-Id``: on writes, and on reads too with
    ``ids_on_reads``.

    With redirects followed, ``redirects`` counts the hops; ``method`` and ``sent`` stay
    those of the first request, while ``status``, ``first_byte``, ``end``, ``reused``,
    ``tag`` (the ``tag_header`` value) and ``body`` (its first ``keep_body`` bytes) are
    of the last hop: its final response (a redirect itself when the hops ran out), or
    where it failed.
    """

    index: int
    method: str
    request_id: str | None
    scheduled: float
    sent: float | None = None
    first_byte: float | None = None
    end: float | None = None
    status: int = 0
    error: str | None = None
    reused: bool = False
    redirects: int = 0
    tag: str | None = None
    body: str | None = None

    @property
    def latency(self) -> float | None:
        """From the scheduled time to the end of the response (queueing included)."""
        if self.status == 0 or self.end is None:
            return None
        return self.end - self.scheduled


@dataclass
class Summary:
    arrivals: int
    responses: int
    statuses: dict[int, int]
    failures: dict[str, int]
    failures_on_reused: int
    writes: int
    reads: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    lateness_ms: float
    connections_opened: int
    duration_s: float
    redirected: int = 0
    """Requests that followed at least one redirect."""
    redirects_max: int = 0
    """The most redirects one request followed."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["statuses"] = {str(k): v for k, v in sorted(self.statuses.items())}
        return out


@dataclass
class Result:
    records: list[Record]
    """In arrival order (by ``index``)."""
    connections_opened: int
    duration_s: float
    started_at: float = 0.0
    """Epoch seconds of ``t0``: a record's ``scheduled`` plus this is its wall time."""

    def epoch(self, seconds: float) -> float:
        """The wall-clock time (epoch seconds) of ``seconds`` on the run's clock."""
        return self.started_at + seconds

    def clock(self, epoch: float) -> float:
        """The run's clock at wall-clock time ``epoch``: comparable with record times."""
        return epoch - self.started_at

    def summary(self) -> Summary:
        latencies = [r.latency for r in self.records if r.latency is not None]
        lateness = [r.sent - r.scheduled for r in self.records if r.sent is not None]
        failed = [r for r in self.records if r.error is not None]
        return Summary(
            arrivals=len(self.records),
            responses=len(latencies),
            statuses=dict(Counter(r.status for r in self.records if r.status)),
            failures=dict(Counter(r.error for r in failed if r.error)),
            failures_on_reused=sum(r.reused for r in failed),
            writes=sum(r.method == "POST" for r in self.records),
            reads=sum(r.method == "GET" for r in self.records),
            p50_ms=_ms(percentile(latencies, 50)),
            p99_ms=_ms(percentile(latencies, 99)),
            max_ms=_ms(max(latencies, default=None)),
            lateness_ms=_ms(max(lateness, default=0.0)) or 0.0,
            connections_opened=self.connections_opened,
            duration_s=round(self.duration_s, 3),
            redirected=sum(r.redirects > 0 for r in self.records),
            redirects_max=max((r.redirects for r in self.records), default=0),
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
