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
from xml.sax.saxutils import escape

from benchmarks.openloop import Record

from .report import NO_RELEASE, Summary, Window, failure

WIDTH, HEIGHT = 960, 480
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 64, 56
PALETTE = ("#2563eb", "#0d9488", "#7c3aed", "#d97706", "#db2777")
"""Release colours, in order of first answer; failures are red, untagged answers grey."""
FAILED, UNTAGGED, INK = "#dc2626", "#9ca3af", "#374151"
SHADES = {"hold": ("#fde68a", "#92400e"), "reload": ("#bfdbfe", "#1e3a8a")}
QUOTE = {'"': "&quot;"}
"""For :func:`escape` in attribute values (a release name comes from a response header)."""


@dataclass(frozen=True)
class Scale:
    """Data to pixels: x linear in seconds, y logarithmic in seconds of latency."""

    x_max: float
    y_min: float
    y_max: float

    def x(self, seconds: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * max(0.0, seconds) / self.x_max

    def y(self, latency: float) -> float:
        span = math.log10(self.y_max / self.y_min)
        share = math.log10(max(latency, self.y_min) / self.y_min) / span
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * min(share, 1.0)


def waited(record: Record) -> float:
    """Seconds from arrival to the final answer (or to the failure)."""
    return (record.end if record.end is not None else record.scheduled) - record.scheduled


def scale_for(records: list[Record], windows: Iterable[Window]) -> Scale:
    ends = [r.scheduled for r in records] + [w.end for w in windows] + [1.0]
    latencies = [waited(r) for r in records if waited(r) > 0] or [0.001]
    y_min = 10.0 ** math.floor(math.log10(max(min(latencies), 1e-4)))
    y_max = 10.0 ** math.ceil(math.log10(max(latencies)))
    return Scale(float(math.ceil(max(ends))), y_min, max(y_max, y_min * 100))


def colours(records: list[Record]) -> dict[str, str]:
    """Group -> colour: each release in order of its first answer, then the rest."""
    releases = dict.fromkeys(r.tag or NO_RELEASE for r in records if failure(r) is None)
    found = {tag: PALETTE[i % len(PALETTE)] for i, tag in enumerate(releases)}
    return {**found, NO_RELEASE: UNTAGGED, "failed": FAILED}


def group_of(record: Record) -> str:
    return "failed" if failure(record) is not None else record.tag or NO_RELEASE


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def _axes(scale: Scale) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = ['<g class="axes" stroke="#e5e7eb" stroke-width="1">']
    labels = [f'<g class="labels" font-size="12" fill="{INK}">']
    step = 1 if scale.x_max <= 20 else 5
    for second in range(0, int(scale.x_max) + 1, step):
        x = scale.x(second)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}"/>')
        labels.append(_text(x, bottom + 16, f"{second}", text_anchor="middle"))
    for exponent in range(round(math.log10(scale.y_min)), round(math.log10(scale.y_max)) + 1):
        y = scale.y(10.0**exponent)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        label = f"{10.0**exponent:g} s" if exponent >= 0 else f"{10.0 ** (exponent + 3):g} ms"
        labels.append(_text(LEFT - 6, y + 4, label, text_anchor="end"))
    middle = (TOP + bottom) / 2
    labels += [
        _text((LEFT + right) / 2, HEIGHT - 14, "seconds since the traffic started (arrival)",
              text_anchor="middle"),
        _text(18, middle, "time to the final answer (log)", text_anchor="middle",
              transform=f"rotate(-90 18 {middle:.1f})"),
        "</g>",
    ]  # fmt: skip
    return [*parts, "</g>", *labels]


def _window(scale: Scale, kind: str, window: Window, label: str) -> list[str]:
    shade, ink = SHADES[kind]
    left, right, bottom = scale.x(window.start), scale.x(window.end), HEIGHT - BOTTOM
    parts = [
        f'<rect class="{kind}" x="{left:.1f}" y="{TOP}" width="{max(right - left, 1):.1f}" '
        f'height="{bottom - TOP}" fill="{shade}" fill-opacity="0.55"/>',
        _text((left + right) / 2, TOP + 14, label, text_anchor="middle", font_size="12", fill=ink),
    ]
    for i, (name, at) in enumerate(window.marks):
        x = scale.x(at)
        parts.append(
            f'<line class="marker" data-mark="{escape(name, QUOTE)}" x1="{x:.1f}" y1="{TOP + 20}" '
            f'x2="{x:.1f}" y2="{bottom}" stroke="{ink}" stroke-dasharray="4 3"/>'
        )
        # Staggered so that marks a moment apart (restart, open) keep readable labels.
        parts.append(_text(x + 3, bottom - 8 - 14 * (i % 2), name, font_size="11", fill=ink))
    return parts


def _dots(scale: Scale, records: list[Record], palette: dict[str, str]) -> list[str]:
    groups: dict[str, list[Record]] = {name: [] for name in palette}
    for record in records:
        groups[group_of(record)].append(record)
    parts = []
    for name, members in groups.items():  # failures last: drawn on top
        radius = 3.5 if name == "failed" else 2.0
        parts.append(f'<g class="requests" data-group="{escape(name, QUOTE)}" '
                     f'fill="{palette[name]}" fill-opacity="0.55">')  # fmt: skip
        parts += [f'<circle cx="{scale.x(r.scheduled):.1f}" cy="{scale.y(waited(r)):.1f}" '
                  f'r="{radius}"/>' for r in members]  # fmt: skip
        parts.append("</g>")
    parts.append(f'<g class="handed-off" fill="none" stroke="{INK}" stroke-width="0.6">')
    parts += [f'<circle cx="{scale.x(r.scheduled):.1f}" cy="{scale.y(waited(r)):.1f}" r="3.4"/>'
              for r in records if r.redirects > 0]  # fmt: skip
    return [*parts, "</g>"]


def _legend(summary: Summary, palette: dict[str, str]) -> list[str]:
    entries = [(f'fill="{palette[name]}"', f"{name} ({count})")
               for name, count in summary.answered.items()]  # fmt: skip
    entries += [(f'fill="{FAILED}"', f"failed ({summary.failed})"),
                (f'fill="none" stroke="{INK}"', f"handed off ({summary.handed_off})")]  # fmt: skip
    parts = [f'<g class="legend" font-size="12" fill="{INK}">']
    x = WIDTH - RIGHT - 112 * len(entries)
    for paint, label in entries:
        parts.append(f'<circle cx="{x}" cy="{TOP - 14}" r="4" {paint}/>')
        parts.append(_text(x + 8, TOP - 10, label))
        x += 112
    return [*parts, "</g>"]


def render_svg(records: list[Record], summary: Summary) -> str:
    """The whole chart as an SVG document."""
    windows = [w for w in (summary.hold, summary.reload) if w is not None]
    scale, palette = scale_for(records, windows), colours(records)
    title = (
        f"gatekeeper demo: {summary.sent} requests, {summary.failed} failed, "
        f"{summary.held} held, {summary.handed_off} handed off"
    )
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="system-ui, sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        _text(LEFT, 24, title, font_size="16", font_weight="600", fill="#111827"),
    ]
    if summary.hold is not None:
        body += _window(scale, "hold", summary.hold, f"hold {summary.hold.seconds:.1f} s")
    if summary.reload is not None:
        body += _window(scale, "reload", summary.reload, f"reload {summary.reload.seconds:.1f} s")
    body += [*_axes(scale), *_dots(scale, records, palette), *_legend(summary, palette), "</svg>"]
    return "\n".join(body) + "\n"
