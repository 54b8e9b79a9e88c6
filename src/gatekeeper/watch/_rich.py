"""The terminal view with rich: a header and a table of processes, redrawn in place.

Imported only once rich is known to be installed (the ``watch`` extra). Every value goes
into a ``Text`` (never through markup), so a ``[bold]`` in a release name shows as typed;
the frame has already escaped control characters (``_text``), which ``Text`` would
otherwise pass on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TextIO

from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gatekeeper.watch._frame import Frame, sparkline
from gatekeeper.watch._plain import age_text, rate_text, wait_text

__all__ = ["print_frame", "render", "run_live"]

_MODE_STYLES = {"open": "green", "hold": "yellow", "readonly": "cyan", "maintenance": "red"}
_LEGEND = (
    "gated/s: requests held, rejected or handed off per second (the open path counts "
    "none, only in-flight) · Ctrl-C to quit"
)


def _header(frame: Frame) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    where = frame.where
    node = f"  node {where.node}" if where.node else ""
    grid.add_row("redis", Text(f"{where.redis}  prefix {where.prefix}{node}"))
    if frame.error:
        read = time.strftime("%H:%M:%S", time.localtime(frame.read_at)) if frame.read_at else None
        since = f"; shown as read at {read}" if read else ""
        grid.add_row("error", Text(f"{frame.error} (retrying{since})", style="bold red"))
        if frame.read_at is None:
            return grid
    state = Text(frame.state, style=_MODE_STYLES.get(frame.mode, "magenta") + " bold")
    if frame.ttl:
        state.append(f"  expires in {frame.ttl:.1f}s", style="default")
    grid.add_row("state", state)
    grid.add_row("owner", Text(frame.owner or "-"))
    for name, value in frame.info:
        if name != "owner":
            grid.add_row(Text(f"  {name}", style="dim"), Text(value))
    lock = Text("none")
    if frame.lock is not None:
        lock = Text(f"{frame.lock}  expires in {frame.lock_ttl or 0:.1f}s", style="yellow")
    grid.add_row("lock", lock)
    if frame.keepalive is not None:
        grid.add_row("keepalive", Text(f"{frame.keepalive}  (gates close connections)"))
    if frame.handoff is not None:
        grid.add_row("handoff", Text(f"{frame.handoff}  (other releases redirect to it)"))
    total = frame.total_rates[-1] if frame.total_rates else None
    hosts = f"{frame.hosts} host{'s' if frame.hosts != 1 else ''}"
    summary = Text(f"{len(frame.rows)} on {hosts}  gated/s {rate_text(total)}  ")
    summary.append(sparkline(frame.total_rates), style="cyan")
    grid.add_row("processes", summary)
    return grid


def _table(frame: Frame) -> Table:
    # No vertical rules and one space between columns: the eleven columns fit in 110
    # cells. The counts keep their width on a narrow terminal; the names give way.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0), expand=False)
    columns: tuple[tuple[str, JustifyMethod, bool], ...] = (
        ("host", "left", False), ("release", "left", False), ("process", "left", False),
        ("pid", "right", True), ("mode", "left", True), ("in-flight", "right", True),
        ("held", "right", True), ("longest wait", "right", True),
        ("heartbeat", "right", True), ("gated/s", "right", True), ("rate", "left", False),
    )  # fmt: skip
    for name, justify, keep in columns:
        table.add_column(
            name, justify=justify, no_wrap=True, overflow="ellipsis",
            min_width=max(len(name), 7 if name == "pid" else 0) if keep else None,
        )  # fmt: skip
    for host, release, rows in frame.groups():
        for index, row in enumerate(rows):
            inflight = "?" if row.inflight is None else str(row.inflight)
            if row.inflight_writes:
                inflight += f" ({row.inflight_writes}w)"
            table.add_row(
                Text(host if index == 0 else ""), Text(release if index == 0 else ""),
                Text(row.proc_id), Text(row.pid),
                Text(row.mode, style=_MODE_STYLES.get(row.mode, "magenta")), Text(inflight),
                Text("?" if row.held is None else str(row.held)), Text(wait_text(row.longest_wait)),
                Text(age_text(frame, row)), Text(rate_text(row.rate)),
                Text(sparkline(row.rates), style="cyan"),
            )  # fmt: skip
    return table


def render(frame: Frame) -> RenderableType:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(frame.taken_at))
    title = Text(f"gatekeeper watch  {stamp}", style="bold")
    if frame.error and frame.read_at is None:
        return Group(title, _header(frame))
    # The legend under the table, not its caption: a caption wraps at the table's width.
    return Group(title, _header(frame), _table(frame), Text(_LEGEND, style="dim"))


def print_frame(frame: Frame, out: TextIO) -> None:
    Console(file=out).print(render(frame))


def run_live(frames: Iterable[Frame], out: TextIO) -> None:
    """Redraw each frame in place until ``frames`` ends or Ctrl-C; leaving the ``with``
    (by either) stops the display and shows the cursor again."""
    console = Console(file=out)
    with Live(
        console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
    ) as live:
        for frame in frames:
            live.update(render(frame), refresh=True)
