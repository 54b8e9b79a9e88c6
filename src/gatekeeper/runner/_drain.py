"""Which gate processes a drain waits for, across a Redis restart; and whether enough
report in at all.

A process drops out of the registry in two ways: it died, and its report expired after
missing its heartbeats (the drain stops waiting for it at once), or Redis lost the whole
registry (a restart, a failover to a replica that had not caught up). After a failed read
the drain cannot tell which, so every process it knew keeps its place until it reports
again, or until one report TTL has passed since Redis answered again: a live process
re-reports within its poll interval, so a restart never lets the migration start while a
request is still inside the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import redis

from gatekeeper.events import emit
from gatekeeper.runner.command import SignalTrap
from gatekeeper.runner.options import RunOptions, RunResult
from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import process_host, read_processes

__all__ = ["DEFAULT_REPORT_TTL", "DrainWatch", "coverage_problem", "drain", "hosts_of"]

DEFAULT_REPORT_TTL = 3.0
"""Seconds a report lives, for reports that do not say (see ``registry.report_ttl``)."""

Report = dict[str, Any]


class DrainWatch:
    """Feed it each read of the registry (or each failed read); it names who to wait for."""

    def __init__(self, ack: str) -> None:
        self.ack = ack
        self._known: dict[str, tuple[Report, float]] = {}
        self._failed = False
        self._answered_again_at: float | None = None

    @property
    def processes(self) -> int:
        """Processes the drain knows of: reporting now, or presumed alive across a gap."""
        return len(self._known)

    def failed(self) -> None:
        """A read of the registry failed: what is missing from the next one may be lost."""
        self._failed = True

    def update(self, reports: list[Report], now: float) -> list[Report]:
        """The processes that have not acknowledged ``ack`` yet, given this read."""
        if self._failed:
            self._failed, self._answered_again_at = False, now
        current = {str(report["id"]): report for report in reports}
        for proc_id, report in current.items():
            self._known[proc_id] = (report, now)
        for proc_id, (report, seen) in list(self._known.items()):
            if proc_id not in current and not self._may_return(report, seen, now):
                del self._known[proc_id]
        return [report for report, _ in self._known.values() if report.get("drained") != self.ack]

    def _may_return(self, report: Report, seen: float, now: float) -> bool:
        back = self._answered_again_at
        if back is None or seen >= back:
            return False  # vanished while Redis kept answering: its report expired
        return now - back < _report_ttl(report)


def hosts_of(reports: list[Report]) -> list[str]:
    """The hosts these processes run on, sorted, each once."""
    return sorted({process_host(str(report["id"])) for report in reports})


def coverage_problem(
    reports: list[Report], *, min_processes: int, hosts: Sequence[str]
) -> str | None:
    """Why these live processes are too few to protect a migration, or ``None``.

    ``--min-processes`` and ``--expect-host``: guards against apps that point at another
    Redis or prefix, or are not up yet, so that the hold would protect nothing.
    """
    seen = hosts_of(reports)
    missing = [host for host in hosts if host not in seen]
    wanted = [f"at least {min_processes}"] if len(reports) < min_processes else []
    if missing:
        wanted.append("none on " + ", ".join(missing))
    if not wanted:
        return None
    on = ", ".join(seen) or "no host"
    return f"{len(reports)} live gate processes on {on} ({'; '.join(wanted)})"


def _report_ttl(report: Report) -> float:
    try:
        return max(0.0, float(report.get("ttl", DEFAULT_REPORT_TTL)))
    except (TypeError, ValueError):
        return DEFAULT_REPORT_TTL


def drain(
    client: redis.Redis,
    keys: Keys,
    ack: str,
    *,
    opts: RunOptions,
    result: RunResult,
    progress: Progress,
    trap: SignalTrap,
    hosts: set[str],
) -> bool:
    """The runner's drain: wait until every live process acknowledges ``ack``, at most
    ``opts.drain_timeout``; ``False`` on timeout (named in ``result.undrained``).
    ``hosts`` gains every host seen: what ``--await-release`` waits on later."""
    started = time.monotonic()
    complete = _drain(client, keys, ack, opts=opts, result=result, progress=progress,
                      trap=trap, hosts=hosts)  # fmt: skip
    # An event with no progress line: "draining N processes" and a timeout's note show it.
    seconds = round(time.monotonic() - started, 3)
    emit(
        "runner.drained",
        f"drained {result.processes} processes in {seconds:.2f}s"
        if complete else f"drain incomplete after {seconds:.2f}s",
        level=logging.INFO if complete else logging.WARNING,
        processes=result.processes, hosts=sorted(hosts), seconds=seconds, complete=complete,
        undrained=result.undrained,
    )  # fmt: skip
    return complete


def _drain(
    client: redis.Redis,
    keys: Keys,
    ack: str,
    *,
    opts: RunOptions,
    result: RunResult,
    progress: Progress,
    trap: SignalTrap,
    hosts: set[str],
) -> bool:
    deadline = time.monotonic() + opts.drain_timeout
    watch = DrainWatch(ack)
    announced: int | None = None
    failing = False
    while True:
        try:
            reports = read_processes(client, keys)
        except redis.RedisError as exc:
            # The hold is set and the lease keeps it: a blip only delays the drain,
            # within the same deadline.
            if not failing:
                progress.note(
                    f"drain: Redis error ({exc.__class__.__name__}); retrying",
                    "runner.drain_retry", error=exc.__class__.__name__,
                )  # fmt: skip
            failing = True
            watch.failed()
            if time.monotonic() >= deadline or trap.received is not None:
                return _timed_out(["(unknown: Redis unreachable)"], opts, result, progress)
            trap.event.wait(0.05)
            continue
        failing = False
        hosts.update(hosts_of(reports))
        waiting = watch.update(reports, time.monotonic())
        result.processes = watch.processes
        if watch.processes != announced:
            if announced is None and not watch.processes:
                _warn_unprotected(opts, result, progress)
            announced = watch.processes
            progress.phase(
                f"draining {watch.processes} processes", "runner.draining",
                processes=watch.processes,
            )  # fmt: skip
        if not waiting:
            return True
        if time.monotonic() >= deadline or trap.received is not None:
            undrained = [f"{r['id']} ({r.get('inflight', '?')} in flight)" for r in waiting]
            return _timed_out(undrained, opts, result, progress)
        progress.tick(sum(int(r.get("held", 0)) for r in reports))
        trap.event.wait(0.01)


def _timed_out(
    undrained: list[str], opts: RunOptions, result: RunResult, progress: Progress
) -> bool:
    result.undrained = undrained
    progress.note(
        f"drain timeout after {opts.drain_timeout:g}s; not drained: "
        + ", ".join(undrained)
        + ("; stopping (--strict-drain)" if opts.strict_drain else "; going on"),
        "runner.drain_timeout", undrained=undrained, timeout_seconds=opts.drain_timeout,
        strict=opts.strict_drain,
    )  # fmt: skip
    return False


def _warn_unprotected(opts: RunOptions, result: RunResult, progress: Progress) -> None:
    result.notes.append("no gate process reported in: COMMAND ran unprotected")
    progress.note(
        f"WARNING: no gate process reports to {opts.redis_label or 'this Redis'}: "
        "nothing is holding traffic, and COMMAND runs unprotected. Check that the apps "
        "use this GATEKEEPER_REDIS_URL and GATEKEEPER_PREFIX and have the middleware; "
        "--min-processes N refuses to migrate instead.",
        "runner.unprotected", redis=opts.redis_label or None,
    )  # fmt: skip
