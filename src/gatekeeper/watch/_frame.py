"""One refresh of ``gatekeeper watch`` as plain data: what both views draw.

A :class:`Frame` is built from a :class:`~gatekeeper.state.store.Status` and the frame
before it, and holds only cleaned text and checked numbers (see ``_text``), so the views
need no care with what came out of Redis.

The rate is of *gated* requests: the growth of ``held_total + rejected_total +
handed_off_total``. The open path counts nothing but in-flight requests (by design, it
must stay cheap), so requests let straight through have no total to take a rate of.
A process's counts are as of its last report, so its rate is the growth between two
reports over the time between their heartbeats; a refresh that finds no newer report
adds no sample (it would read a false zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gatekeeper.state.store import Status, group_processes
from gatekeeper.watch._text import clean, count, seconds

__all__ = ["BLOCKS", "HISTORY", "Frame", "Row", "Where", "build_frame", "failed_frame", "sparkline"]

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_BLOCKS = "_.-~=*#@"
"""For a stream that cannot encode the blocks (a ``C`` locale's ASCII)."""
HISTORY = 20
"""Samples kept, per process and in total: one sparkline character each."""

GATED = ("held_total", "rejected_total", "handed_off_total")
_INFO_LIMIT = 200  # as `gatekeeper status` shows them


def sparkline(values: Sequence[float], blocks: str = BLOCKS) -> str:
    """One character per value, the largest as the top block; zero (or anything not a
    positive finite number) is the bottom block, and any positive value sits above it,
    so a trickle beside a burst still shows."""
    levels = len(blocks) - 1
    clipped = [
        v if isinstance(v, (int, float)) and math.isfinite(v) and v > 0 else 0.0 for v in values
    ]
    peak = max(clipped, default=0.0)
    if peak <= 0:
        return blocks[0] * len(clipped)
    return "".join(
        blocks[0] if v <= 0 else blocks[max(1, min(levels, round(v / peak * levels)))]
        for v in clipped
    )


@dataclass(frozen=True)
class Where:
    """Which Redis and prefix are watched (the URL already redacted)."""

    redis: str
    prefix: str
    node: str = ""


@dataclass(frozen=True)
class Row:
    """One gate process, as of its last report."""

    key: str
    """The raw process id, to match the next frame's row; never shown."""
    proc_id: str
    host: str
    release: str
    pid: str
    mode: str
    inflight: int | None
    inflight_writes: int | None
    held: int | None
    longest_wait: float | None
    """The longer of the report's ``longest_wait`` and the age of its ``held_since``;
    ``None`` when it has neither (valid)."""
    heartbeat: float | None
    """Unix time of the report's heartbeat (its score in ``<prefix>:procs``)."""
    gated: int | None
    """The gated total the last rate was taken from; ``None`` if the report's is bad."""
    stamp: float
    """When ``gated`` was counted: the heartbeat, else the time of the read."""
    rates: tuple[float, ...] = ()

    @property
    def rate(self) -> float | None:
        return self.rates[-1] if self.rates else None


@dataclass(frozen=True)
class Frame:
    taken_at: float
    where: Where
    read_at: float | None = None
    """When Redis last answered (``None``: never yet)."""
    error: str | None = None
    """Why this refresh could not read Redis; the rest is then as of ``read_at``."""
    state: str = ""
    mode: str = ""
    ttl: float | None = None
    info: tuple[tuple[str, str], ...] = ()
    lock: str | None = None
    lock_ttl: float | None = None
    keepalive: str | None = None
    handoff: str | None = None
    rows: tuple[Row, ...] = ()
    total_rates: tuple[float, ...] = ()

    @property
    def owner(self) -> str | None:
        return dict(self.info).get("owner")

    @property
    def hosts(self) -> int:
        return len({row.host for row in self.rows})

    def groups(self) -> list[tuple[str, str, list[Row]]]:
        """Rows by host, then release, as ``gatekeeper status`` lists them."""
        groups: dict[tuple[str, str], list[Row]] = {}
        for row in self.rows:
            groups.setdefault((row.host, row.release), []).append(row)
        return [(host, release, rows) for (host, release), rows in groups.items()]


def _gated(report: Mapping[str, Any]) -> int | None:
    parts = [count(report.get(name, 0)) for name in GATED]
    return None if any(part is None for part in parts) else sum(p for p in parts if p is not None)


def _longest_wait(report: dict[str, Any], now: float) -> float | None:
    """The longer of the holds that ended since the process left ``open`` and the time
    since it began holding what it holds now (``held_since``): a migration's requests are
    all still waiting until its release, and the column must not read 0 meanwhile."""
    ended = seconds(report.get("longest_wait"))
    since = report.get("held_since")
    if isinstance(since, bool) or not isinstance(since, (int, float)):
        return ended
    waiting = seconds(now - since)  # None for a clock ahead of ours, or garbage
    if waiting is None:
        return ended
    return waiting if ended is None else max(ended, waiting)


def _row(
    report: dict[str, Any], host: str, release: str, heartbeat: float | None,
    before: Row | None, now: float,
) -> Row:  # fmt: skip
    gated = _gated(report)
    stamp = heartbeat if heartbeat is not None else now
    key = str(report["id"])
    rates: tuple[float, ...] = before.rates if before else ()
    if before is None or gated is None or before.gated is None or gated < before.gated:
        # Nothing to take a rate from (a process just seen, a bad total, a counter that
        # went back): this report starts a fresh baseline.
        pass
    elif stamp > before.stamp:
        rate = (gated - before.gated) / (stamp - before.stamp)
        rates = (*before.rates, rate)[-HISTORY:]
    else:
        # No newer report since the last refresh: keep the baseline it was taken from.
        gated, stamp = before.gated, before.stamp
    return Row(
        key=key, proc_id=clean(key), host=clean(host, 40), release=clean(release or "", 40),
        pid=clean(report.get("pid", "?"), 12) or "?", mode=clean(report.get("mode", "?"), 12),
        inflight=count(report.get("inflight")),
        inflight_writes=count(report.get("inflight_writes")),
        held=count(report.get("held")), longest_wait=_longest_wait(report, now),
        heartbeat=heartbeat, gated=gated, stamp=stamp, rates=rates,
    )  # fmt: skip


def build_frame(
    status: Status,
    *,
    where: Where,
    heartbeats: Mapping[str, float],
    previous: Frame | None,
    now: float,
) -> Frame:
    """The frame of a successful read at ``now``; ``previous`` carries the samples."""
    before = {row.key: row for row in previous.rows} if previous else {}
    by_id = {str(report["id"]): report for report in status.processes}
    rows = [
        _row(by_id[proc_id], group["host"], group["release"], heartbeats.get(proc_id),
             before.get(proc_id), now)
        for group in group_processes(status.processes)
        for proc_id in group["ids"]
    ]  # fmt: skip
    totals = previous.total_rates if previous else ()
    # A process that vanished takes its rate with it; one just seen has none yet.
    current = [row.rate for row in rows if row.rate is not None]
    if current:
        totals = (*totals, sum(current))[-HISTORY:]
    return Frame(
        taken_at=now,
        where=where,
        read_at=now,
        state=clean(status.state, 40),
        mode=clean(status.mode, 12),
        ttl=status.ttl,
        info=tuple(
            (clean(name, 20), clean(value, _INFO_LIMIT))
            for name, value in sorted(status.info.items())
        ),
        lock=None if status.lock_holder is None else clean(status.lock_holder, _INFO_LIMIT),
        lock_ttl=status.lock_ttl,
        keepalive=None if status.keepalive is None else clean(status.keepalive, _INFO_LIMIT),
        handoff=None if status.handoff is None else clean(status.handoff, _INFO_LIMIT),
        rows=tuple(rows),
        total_rates=totals,
    )


def failed_frame(previous: Frame | None, error: str, *, where: Where, now: float) -> Frame:
    """A refresh that could not read Redis: the error, over what was last read."""
    if previous is None:
        return Frame(taken_at=now, where=where, error=clean(error, _INFO_LIMIT))
    return replace(previous, taken_at=now, error=clean(error, _INFO_LIMIT))
