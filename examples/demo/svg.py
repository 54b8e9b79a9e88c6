"""The picture of a run, as a hand-written SVG: every request a dot, the deploys shaded.

x is when a request arrived (seconds since the traffic started), y how long it took
until its final answer, on a log scale so that 5 ms reads and a 5 s hold fit on one
chart. A dot's colour is the release that answered it (red: failed); a ring around it
means it followed a redirect (a handoff). The hold (with the migration's start, the
restart and the open marked) and the reload's keep-alive-off window are shaded. No
plotting library: a few thousand circles of SVG are plenty, and the demo installs
nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tools import svg
from tools.openloop import Record

from .report import NO_RELEASE, Summary, Window, failure

WIDTH, HEIGHT = 960, 480
BOX = svg.Box(left=72, top=64, right=WIDTH - 24, bottom=HEIGHT - 56)
"""The plotting area; the title and the legend above it, the axis labels below and left."""
FAILED, UNTAGGED, INK = svg.RED, svg.GREY, svg.INK
"""Releases take :data:`tools.svg.SERIES` in order of first answer; failures are red,
untagged answers grey."""
SHADES = {"hold": ("#fde68a", "#92400e"), "reload": ("#bfdbfe", "#1e3a8a")}


@dataclass(frozen=True)
class Scales:
    """Data to pixels: x linear in seconds since the traffic started, y logarithmic in
    seconds of latency."""

    x: svg.Scale
    y: svg.Scale


def waited(record: Record) -> float:
    """Seconds from arrival to the final answer (or to the failure)."""
    return (record.end if record.end is not None else record.scheduled) - record.scheduled


def scale_for(records: list[Record], windows: Iterable[Window]) -> Scales:
    ends = [r.scheduled for r in records] + [w.end for w in windows] + [1.0]
    latencies = [waited(r) for r in records if waited(r) > 0] or [0.001]
    y_min = 10.0 ** math.floor(math.log10(max(min(latencies), 1e-4)))
    y_max = max(10.0 ** math.ceil(math.log10(max(latencies))), y_min * 100)
    return Scales(
        svg.Scale(0.0, float(math.ceil(max(ends))), BOX.left, BOX.right),
        svg.Scale(y_min, y_max, BOX.bottom, BOX.top, log=True),
    )


def colours(records: list[Record]) -> dict[str, str]:
    """Group -> colour: each release in order of its first answer, then the rest."""
    releases = dict.fromkeys(r.tag or NO_RELEASE for r in records if failure(r) is None)
    found = {tag: svg.series_colour(i) for i, tag in enumerate(releases)}
    return {**found, NO_RELEASE: UNTAGGED, "failed": FAILED}


def group_of(record: Record) -> str:
    return "failed" if failure(record) is not None else record.tag or NO_RELEASE


def _axes(scales: Scales) -> list[str]:
    x_max = scales.x.hi
    step = 1 if x_max <= 20 else 5
    x_ticks = [(scales.x(second), f"{second}") for second in range(0, int(x_max) + 1, step)]
    y_ticks = []
    for exponent in range(round(math.log10(scales.y.lo)), round(math.log10(scales.y.hi)) + 1):
        label = f"{10.0**exponent:g} s" if exponent >= 0 else f"{10.0 ** (exponent + 3):g} ms"
        y_ticks.append((scales.y(10.0**exponent), label))
    return svg.grid(
        BOX, x_ticks, y_ticks,
        x_title="seconds since the traffic started (arrival)",
        y_title="time to the final answer (log)",
    )  # fmt: skip


def _window(scales: Scales, kind: str, window: Window, label: str) -> list[str]:
    shade, ink = SHADES[kind]
    left, right = scales.x(window.start), scales.x(window.end)
    parts = [
        svg.rect(left, BOX.top, max(right - left, 1), BOX.bottom - BOX.top, class_=kind,
                 fill=shade, fill_opacity=0.55),
        svg.text((left + right) / 2, BOX.top + 14, label, text_anchor="middle", font_size=12,
                 fill=ink),
    ]  # fmt: skip
    for i, (name, at) in enumerate(window.marks):
        x = scales.x(at)
        parts.append(svg.line(x, BOX.top + 20, x, BOX.bottom, class_="marker", data_mark=name,
                              stroke=ink, stroke_dasharray="4 3"))  # fmt: skip
        # Staggered so that marks a moment apart (restart, open) keep readable labels.
        parts.append(svg.text(x + 3, BOX.bottom - 8 - 14 * (i % 2), name, font_size=11, fill=ink))
    return parts


def _dots(scales: Scales, records: list[Record], palette: dict[str, str]) -> list[str]:
    groups: dict[str, list[Record]] = {name: [] for name in palette}
    for record in records:
        groups[group_of(record)].append(record)
    parts = []
    for name, members in groups.items():  # failures last: drawn on top
        radius = 3.5 if name == "failed" else 2.0
        dots = [svg.circle(scales.x(r.scheduled), scales.y(waited(r)), radius) for r in members]
        parts += svg.group(dots, class_="requests", data_group=name, fill=palette[name],
                           fill_opacity=0.55)  # fmt: skip
    rings = [svg.circle(scales.x(r.scheduled), scales.y(waited(r)), 3.4)
             for r in records if r.redirects > 0]  # fmt: skip
    return [*parts, *svg.group(rings, class_="handed-off", fill="none", stroke=INK,
                               stroke_width=0.6)]  # fmt: skip


def _legend(summary: Summary, palette: dict[str, str]) -> list[str]:
    entries: list[tuple[dict[str, svg.Attribute], str]] = [
        ({"fill": palette[name]}, f"{name} ({count})") for name, count in summary.answered.items()
    ]
    entries.append(({"fill": FAILED}, f"failed ({summary.failed})"))
    entries.append(({"fill": "none", "stroke": INK}, f"handed off ({summary.handed_off})"))
    parts = []
    x = BOX.right - 112 * len(entries)
    for paint, label in entries:
        parts += [svg.circle(x, BOX.top - 14, 4, **paint), svg.text(x + 8, BOX.top - 10, label)]
        x += 112
    return svg.group(parts, class_="legend", font_size=12, fill=INK)


def render_svg(records: list[Record], summary: Summary) -> str:
    """The whole chart as an SVG document."""
    windows = [w for w in (summary.hold, summary.reload) if w is not None]
    scales, palette = scale_for(records, windows), colours(records)
    title = (
        f"gatekeeper demo: {summary.sent} requests, {summary.failed} failed, "
        f"{summary.held} held, {summary.handed_off} handed off"
    )
    body = [svg.text(BOX.left, 24, title, font_size=16, font_weight=600, fill=svg.TEXT)]
    if summary.hold is not None:
        body += _window(scales, "hold", summary.hold, f"hold {summary.hold.seconds:.1f} s")
    if summary.reload is not None:
        body += _window(scales, "reload", summary.reload, f"reload {summary.reload.seconds:.1f} s")
    body += [*_axes(scales), *_dots(scales, records, palette), *_legend(summary, palette)]
    return svg.document(WIDTH, HEIGHT, body, title=title, font_family=svg.FONT)
