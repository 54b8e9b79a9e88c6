"""Hand-written SVG for the benchmark charts and the demo's timeline: no plotting library.

What both pictures need and nothing more: escaping, elements from keyword attributes
(``font_size=12`` is ``font-size="12"``, ``class_="x"`` is ``class="x"``, ``data_group``
is ``data-group``), the document frame, scales from data to pixels (linear or log), a
grid with tick labels and axis titles, and one palette, so the two speak the same colours.
Numbers are written with at most two decimals (enough for a pixel or an opacity).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape as _escape

__all__ = [
    "Attribute",
    "Box",
    "Scale",
    "attributes",
    "circle",
    "document",
    "element",
    "escape",
    "grid",
    "group",
    "line",
    "number",
    "polyline",
    "rect",
    "series_colour",
    "text",
]

# The palette. SERIES colours groups in order (a chart's releases, say); the rest name
# what they are for.
BLUE, TEAL, VIOLET, AMBER, PINK = "#2563eb", "#0d9488", "#7c3aed", "#d97706", "#db2777"
SERIES = (BLUE, TEAL, VIOLET, AMBER, PINK)
GREEN, DARK_GREEN = "#10b981", "#15803d"
RED, DARK_RED = "#dc2626", "#b91c1c"
"""RED marks a failure; DARK_RED is for text and thin lines, which need more contrast."""
GREY, MUTED = "#9ca3af", "#6b7280"
TEXT, INK, RULE, PAPER = "#111827", "#374151", "#e5e7eb", "#ffffff"
FONT = "system-ui, DejaVu Sans, Arial, sans-serif"

Attribute = str | int | float | None
_QUOTES = {'"': "&quot;"}


def escape(value: str) -> str:
    """``value`` safe as element text and inside a double-quoted attribute."""
    return _escape(value, _QUOTES)


def number(value: float) -> str:
    """``12``, ``12.5``, ``0.55``: two decimals at most, trailing zeros dropped."""
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def attributes(attrs: dict[str, Attribute]) -> str:
    """`` name="value"`` for each attribute that is not None, names as in the docstring."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        shown = number(value) if isinstance(value, int | float) else escape(value)
        parts.append(f' {name.rstrip("_").replace("_", "-")}="{shown}"')
    return "".join(parts)


def element(tag: str, content: str | None = None, /, **attrs: Attribute) -> str:
    """``<tag .../>``, or ``<tag ...>content</tag>`` with ``content`` escaped."""
    if content is None:
        return f"<{tag}{attributes(attrs)}/>"
    return f"<{tag}{attributes(attrs)}>{escape(content)}</{tag}>"


def text(x: float, y: float, content: str, **attrs: Attribute) -> str:
    return element("text", content, x=x, y=y, **attrs)


def rect(x: float, y: float, width: float, height: float, **attrs: Attribute) -> str:
    return element("rect", x=x, y=y, width=width, height=height, **attrs)


def line(x1: float, y1: float, x2: float, y2: float, **attrs: Attribute) -> str:
    return element("line", x1=x1, y1=y1, x2=x2, y2=y2, **attrs)


def circle(cx: float, cy: float, r: float, **attrs: Attribute) -> str:
    return element("circle", cx=cx, cy=cy, r=r, **attrs)


def polyline(points: Iterable[tuple[float, float]], **attrs: Attribute) -> str:
    drawn = " ".join(f"{number(x)},{number(y)}" for x, y in points)
    return element("polyline", points=drawn, fill=attrs.pop("fill", "none"), **attrs)


def group(children: Iterable[str], **attrs: Attribute) -> list[str]:
    """``<g ...>``, the children, ``</g>``: attributes the children inherit, set once."""
    return [f"<g{attributes(attrs)}>", *children, "</g>"]


def series_colour(index: int) -> str:
    """The colour of the ``index``-th group of a series (they repeat after five)."""
    return SERIES[index % len(SERIES)]


def document(
    width: float,
    height: float,
    body: Iterable[str],
    *,
    title: str | None = None,
    style: str | None = None,
    background: str = PAPER,
    **attrs: Attribute,
) -> str:
    """A whole SVG document: root element, ``<title>``, ``<style>``, a background, ``body``."""
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg"'
        f"{attributes({'width': width, 'height': height, **attrs})}"
        f' viewBox="0 0 {number(width)} {number(height)}">'
    ]
    if title is not None:
        head.append(element("title", title))
    if style is not None:
        # Escaped like any text (XML reads the entities back), so no CDATA section.
        head.append(f"<style>{escape(style)}</style>")
    head.append(rect(0, 0, width, height, fill=background))
    return "\n".join([*head, *body, "</svg>"]) + "\n"


@dataclass(frozen=True)
class Box:
    """The plotting area, in pixels from the top left of the document."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2


@dataclass(frozen=True)
class Scale:
    """Data ``lo..hi`` onto pixels ``start..end`` (``end < start`` for an upward y axis),
    linear or logarithmic (``log``; then ``lo > 0``). Values outside are clamped."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            value, lo, hi = (math.log10(max(v, self.lo)) for v in (value, self.lo, self.hi))
        else:
            lo, hi = self.lo, self.hi
        share = (value - lo) / (hi - lo) if hi != lo else 0.0
        return self.start + (self.end - self.start) * min(max(share, 0.0), 1.0)


def grid(
    box: Box,
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[float, str]],
    *,
    x_title: str = "",
    y_title: str = "",
    font_size: int = 12,
) -> list[str]:
    """Gridlines at pixel positions ``(px, label)``, x labels under the box, y labels to
    its left, and the axis titles (y turned on its side): the frame of a chart."""
    lines = [line(x, box.top, x, box.bottom) for x, _ in x_ticks]
    lines += [line(box.left, y, box.right, y) for y, _ in y_ticks]
    labels = [text(x, box.bottom + 16, label, text_anchor="middle") for x, label in x_ticks]
    labels += [text(box.left - 6, y + 4, label, text_anchor="end") for y, label in y_ticks]
    middle_x, middle_y = box.centre
    if x_title:
        labels.append(text(middle_x, box.bottom + 42, x_title, text_anchor="middle"))
    if y_title:
        x = box.left - 54
        turn = f"rotate(-90 {number(x)} {number(middle_y)})"
        labels.append(text(x, middle_y, y_title, text_anchor="middle", transform=turn))
    return [
        *group(lines, class_="axes", stroke=RULE, stroke_width=1),
        *group(labels, class_="labels", font_size=font_size, fill=INK),
    ]
