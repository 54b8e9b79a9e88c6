"""The plain view: one block of lines per refresh, headed with its time.

For pipes, logs and terminals without rich. The lines follow ``gatekeeper status`` (the
same labels, ``name=value`` pairs for each process) so a script reading one reads both.
"""

from __future__ import annotations

import time

from gatekeeper.watch._frame import BLOCKS, Frame, Row, sparkline

__all__ = ["plain_lines", "rate_text", "wait_text"]


def rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}"


def wait_text(wait: float | None) -> str:
    return "-" if wait is None else f"{wait:.1f}s"


def _number(value: int | None) -> str:
    return "?" if value is None else str(value)


def age_text(frame: Frame, row: Row) -> str:
    if row.heartbeat is None:
        return "?"
    return f"{max(frame.taken_at - row.heartbeat, 0.0):.1f}s ago"


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def _row_line(frame: Frame, row: Row, blocks: str) -> str:
    writes = f"({_number(row.inflight_writes)}w)" if row.inflight_writes else ""
    wait = f" longest-wait={wait_text(row.longest_wait)}" if row.longest_wait is not None else ""
    return (
        f"    {row.proc_id:<40} pid={row.pid} mode={row.mode:<11} "
        f"in-flight={_number(row.inflight)}{writes} held={_number(row.held)}{wait} "
        f"heartbeat={age_text(frame, row)} gated/s={rate_text(row.rate)} "
        f"{sparkline(row.rates, blocks)}"
    ).rstrip()


def plain_lines(frame: Frame, blocks: str = BLOCKS) -> list[str]:
    """The block of one refresh, without line ends."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(frame.taken_at))
    lines = [f"--- {stamp} ---"]
    where = frame.where
    node = f"  node {where.node}" if where.node else ""
    lines.append(f"redis:     {where.redis}  prefix {where.prefix}{node}")
    if frame.error:
        since = f"; shown as read at {_clock(frame.read_at)}" if frame.read_at else ""
        lines.append(f"error:     {frame.error} (retrying{since})")
        if frame.read_at is None:
            return lines
    ttl = f" (expires in {frame.ttl:.1f}s)" if frame.ttl else ""
    lines.append(f"state:     {frame.state}{ttl}")
    lines.extend(f"  {name + ':':<12} {value}" for name, value in frame.info)
    if frame.lock is not None:
        lines.append(f"lock:      {frame.lock} (expires in {frame.lock_ttl or 0:.1f}s)")
    else:
        lines.append("lock:      none")
    if frame.keepalive is not None:
        lines.append(f"keepalive: {frame.keepalive}  (gates close connections: a reload)")
    if frame.handoff is not None:
        lines.append(f"handoff:   {frame.handoff}  (processes of other releases redirect to it)")
    total = frame.total_rates[-1] if frame.total_rates else None
    lines.append(
        f"processes: {len(frame.rows)} on {frame.hosts} host{'s' if frame.hosts != 1 else ''}"
        f"  gated/s={rate_text(total)} {sparkline(frame.total_rates, blocks)}".rstrip()
    )
    for host, release, rows in frame.groups():
        lines.append(f"  {host}  release {release or '(release not set)'}: {len(rows)}")
        lines.extend(_row_line(frame, row, blocks) for row in rows)
    return lines
