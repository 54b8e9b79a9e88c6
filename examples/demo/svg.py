"""The picture of a run, as a hand-written SVG: every request a dot, the hold shaded.

x is when a request was sent (seconds since the traffic started), y how long it took,
on a log scale so that 5 ms reads and a 5 s hold fit on one chart. The hold window
(the runner's ``started_at`` to ``released_at``) is shaded, and the migration's start
and end are marked. No plotting library: a few hundred lines of SVG are plenty, and the
demo installs nothing more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from gatekeeper.loadgen import Sample

from .report import Summary, held_samples, is_failure

WIDTH, HEIGHT = 960, 480
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 64, 56
COLOURS = {"read": "#2563eb", "write": "#0d9488", "failed": "#dc2626"}
SHADE, MARK = "#fde68a", "#92400e"


@dataclass(frozen=True)
class Scale:
    """Data to pixels: x linear in seconds, y logarithmic in seconds of latency."""

    x_max: float
    y_min: float
    y_max: float

    def x(self, seconds: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * max(0.0, seconds) / self.x_max

    def y(self, latency: float) -> float:
        span = math.log10(self.y_max) - math.log10(self.y_min)
        share = (math.log10(max(latency, self.y_min)) - math.log10(self.y_min)) / span
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * share


def scale_for(samples: list[Sample], t0: float, runner: dict[str, Any]) -> Scale:
    ends = [s.started - t0 for s in samples] + [runner.get("released_at", t0) - t0, 1.0]
    latencies = [s.latency for s in samples if s.latency > 0] or [0.001]
    y_min = 10.0 ** math.floor(math.log10(max(min(latencies), 1e-4)))
    y_max = 10.0 ** math.ceil(math.log10(max(latencies)))
    return Scale(float(math.ceil(max(ends))), y_min, max(y_max, y_min * 100))


def duration_label(seconds: float) -> str:
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def _axes(scale: Scale) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = ['<g class="axes" stroke="#d1d5db" stroke-width="1">']
    labels = ['<g class="labels" font-size="12" fill="#374151">']
    step = 1 if scale.x_max <= 20 else 5
    for second in range(0, int(scale.x_max) + 1, step):
        x = scale.x(second)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}"/>')
        labels.append(_text(x, bottom + 16, f"{second}", text_anchor="middle"))
    exponent = round(math.log10(scale.y_min))
    while 10.0**exponent <= scale.y_max * 1.0001:
        y = scale.y(10.0**exponent)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        labels.append(_text(LEFT - 6, y + 4, duration_label(10.0**exponent), text_anchor="end"))
        exponent += 1
    parts.append("</g>")
    labels.append(_text((LEFT + right) / 2, HEIGHT - 14, "seconds since the traffic started",
                        text_anchor="middle"))  # fmt: skip
    labels.append(
        _text(18, (TOP + bottom) / 2, "latency (log scale)", text_anchor="middle",
              transform=f"rotate(-90 18 {(TOP + bottom) / 2:.1f})")
    )  # fmt: skip
    labels.append("</g>")
    return parts + labels


def _hold(
    scale: Scale, t0: float, runner: dict[str, Any], summary: Summary, held: list[Sample]
) -> list[str]:
    if not runner.get("gated"):
        return []
    left, right = scale.x(runner["started_at"] - t0), scale.x(runner["released_at"] - t0)
    bottom = HEIGHT - BOTTOM
    parts = [
        f'<rect class="hold" x="{left:.1f}" y="{TOP}" width="{max(right - left, 1):.1f}" '
        f'height="{bottom - TOP}" fill="{SHADE}" fill-opacity="0.6"/>',
        _text((left + right) / 2, (TOP + bottom) / 2, f"hold window {summary.hold_window:.2f} s",
              text_anchor="middle", font_size="13", fill=MARK),
    ]  # fmt: skip
    # Labels sit low in the window: nothing is answered during a hold, so no dot is there.
    migrate_start = runner["migrate_started_at"] - t0
    migrate_end = runner["started_at"] + runner["migrate_seconds"] - t0
    for seconds, label, anchor, dx in (
        (migrate_start, "migrate starts", "start", 4),
        (migrate_end, "migrate ends", "end", -4),
    ):
        x = scale.x(seconds)
        parts.append(
            f'<line class="marker" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" '
            f'stroke="{MARK}" stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
        parts.append(_text(x + dx, bottom - 8, label, text_anchor=anchor, font_size="12",
                           fill=MARK))  # fmt: skip
    if held:
        # Each held request's wait as a bar from when it was sent to when it was answered:
        # their dots alone would pile up on one spot at the start of the window.
        parts.append(f'<g class="waits" stroke="{MARK}" stroke-opacity="0.35" stroke-width="1">')
        for s in held:
            y = scale.y(s.latency)
            parts.append(
                f'<line x1="{scale.x(s.started - t0):.1f}" y1="{y:.1f}" '
                f'x2="{scale.x(s.ended - t0):.1f}" y2="{y:.1f}"/>'
            )
        parts.append("</g>")
        parts.append(
            _text((left + right) / 2, scale.y(summary.longest_hold) + 22,
                  f"{len(held)} requests held, answered at the release",
                  text_anchor="middle", font_size="12", fill=MARK)
        )  # fmt: skip
    return parts


def _dots(scale: Scale, t0: float, samples: list[Sample]) -> list[str]:
    groups: dict[str, list[Sample]] = {kind: [] for kind in COLOURS}
    for sample in samples:
        kind = "failed" if is_failure(sample) else "write" if sample.method == "POST" else "read"
        groups[kind].append(sample)
    parts = []
    for kind, members in groups.items():  # failures last: drawn on top
        radius = 3.5 if kind == "failed" else 2.2
        parts.append(f'<g class="{kind}" fill="{COLOURS[kind]}" fill-opacity="0.6">')
        parts.extend(
            f'<circle cx="{scale.x(s.started - t0):.1f}" cy="{scale.y(s.latency):.1f}" '
            f'r="{radius}"/>'
            for s in members
        )
        parts.append("</g>")
    return parts


def _legend(summary: Summary) -> list[str]:
    entries = [("read", f"reads ({summary.reads})"), ("write", f"writes ({summary.writes})"),
               ("failed", f"failed ({summary.failed})")]  # fmt: skip
    parts = ['<g class="legend" font-size="12" fill="#374151">']
    x = WIDTH - RIGHT - 300
    for kind, label in entries:
        parts.append(f'<circle cx="{x}" cy="{TOP - 14}" r="4" fill="{COLOURS[kind]}"/>')
        parts.append(_text(x + 8, TOP - 10, label))
        x += 100
    parts.append("</g>")
    return parts


def render_svg(samples: list[Sample], t0: float, runner: dict[str, Any], summary: Summary) -> str:
    """The whole chart as an SVG document."""
    scale = scale_for(samples, t0, runner)
    title = (
        f"gatekeeper demo: {summary.sent} requests, {summary.failed} failed, "
        f"{summary.held_in_samples} held up to {summary.longest_hold:.2f} s"
        + (f" through a {summary.hold_window:.2f} s hold" if summary.hold_window else "")
    )
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="system-ui, sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        _text(LEFT, 26, title, font_size="16", font_weight="600", fill="#111827"),
        *_hold(scale, t0, runner, summary, held_samples(samples, runner)),
        *_axes(scale),
        *_dots(scale, t0, samples),
        *_legend(summary),
        "</svg>",
    ]
    return "\n".join(body) + "\n"
