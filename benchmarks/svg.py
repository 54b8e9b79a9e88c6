"""A hand-written SVG chart of one run: one panel of horizontal bars per question.

Each panel has its own scale and, where the issue sets one, a dashed target line; a
bar's label says what it is and its value, and ends in "met" or "MISSED" when judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools import svg

__all__ = ["Bar", "Panel", "build_panels", "render_svg"]

WIDTH = 1200
LABEL_W = 330
BAR_W = 420
ROW_H = 20
COLORS = {"gate": svg.BLUE, "naive": svg.AMBER, "floor": svg.GREY, "other": svg.GREEN}
STYLE = (
    f"text{{font-family:{svg.FONT};font-size:12px;fill:{svg.TEXT}}}"
    ".title{font-size:14px;font-weight:bold}.label{text-anchor:end}"
    f".met{{fill:{svg.DARK_GREEN}}}.missed{{fill:{svg.DARK_RED};font-weight:bold}}"
    f".target{{stroke:{svg.DARK_RED};stroke-dasharray:4 3;stroke-width:1.5}}"
    f".tlabel{{fill:{svg.DARK_RED};font-size:11px}}.small{{font-size:10px;fill:{svg.MUTED}}}"
)


@dataclass
class Bar:
    label: str
    value: float | None
    text: str
    series: str = "gate"
    met: bool | None = None


@dataclass
class Panel:
    title: str
    bars: list[Bar] = field(default_factory=list)
    target: float | None = None
    target_label: str = ""

    def scale(self) -> float:
        """The value at the bars' full width: the largest, capped at 4x the target."""
        values = [b.value for b in self.bars if b.value is not None]
        top = max([*values, (self.target or 0) * 1.25, 1e-9])
        return min(top, self.target * 4) if self.target else top


def _panel_svg(panel: Panel, top: float) -> tuple[list[str], float]:
    parts = [svg.text(12, top + 18, panel.title, class_="title")]
    y = top + 30
    # Clamped: a bar past 4x the target stops at the full width.
    width_of = svg.Scale(0.0, panel.scale(), 0.0, BAR_W)
    for bar in panel.bars:
        parts.append(svg.text(LABEL_W - 8, y + 14, bar.label, class_="label"))
        if bar.value is not None:
            width = max(1.0, width_of(bar.value))
            color = COLORS.get(bar.series, COLORS["other"])
            parts.append(svg.rect(LABEL_W, y + 3, width, ROW_H - 6, fill=color))
        verdict = {True: " met", False: " MISSED", None: ""}[bar.met]
        cls = {True: "met", False: "missed", None: "value"}[bar.met]
        parts.append(svg.text(LABEL_W + BAR_W + 8, y + 14, bar.text + verdict, class_=cls))
        y += ROW_H
    if panel.target is not None:
        x = LABEL_W + width_of(panel.target)
        parts.append(svg.line(x, top + 26, x, y + 2, class_="target"))
        parts.append(svg.text(x + 3, y + 13, panel.target_label, class_="tlabel"))
        y += 14
    return parts, y + 12


def render_svg(panels: list[Panel], heading: str, footer: str) -> str:
    body = [svg.text(12, 20, heading, class_="title")]
    y = 34.0
    for panel in panels:
        parts, y = _panel_svg(panel, y)
        body += parts
    # The footer (the machine line) is long: two lines, split between its clauses.
    words = footer.split("; ")
    half = len(words) // 2
    lines = ["; ".join(words[:half]), "; ".join(words[half:])] if half else [footer]
    for index, line in enumerate(lines):
        body.append(svg.text(12, round(y + 8 + 14 * index), line, class_="small"))
    height = round(y + 14 * len(lines) + 12)
    return svg.document(WIDTH, height, body, title=heading, style=STYLE)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def build_panels(results: dict[str, Any], verdicts: dict[str, bool | None]) -> list[Panel]:
    """Panels for the sections present; ``verdicts`` maps target metric names to met."""
    s = results["sections"]
    panels: list[Panel] = []
    if "open" in s:
        p = Panel("1. Open path: req/s kept vs bare (same run)", target=0.97, target_label="0.97")
        for app in s["open"]["apps"].values():
            gate, naive = app["variants"]["gate"], app["variants"]["naive"]
            met = verdicts.get(f"{app['label']}: gate req/s / bare")
            p.bars.append(
                Bar(
                    f"{app['label']} + gate",
                    gate["rps_ratio"],
                    f"{gate['rps_ratio']:.3f}",
                    "gate",
                    met,
                )
            )
            p.bars.append(
                Bar(
                    f"{app['label']} + naive GET",
                    naive["rps_ratio"],
                    f"{naive['rps_ratio']:.3f}",
                    "naive",
                )
            )
            est = gate.get("estimated_rps_ratio")
            if est is not None:
                text = f"{est:.3f} (bare CPU + {gate['micro_gate_us']:.2f} us gate)"
                met = verdicts.get(f"{app['label']}: est. req/s kept (bare CPU/req + gate cost)")
                p.bars.append(Bar(f"{app['label']}: gate, estimate", est, text, "other", met))
        panels.append(p)
    rel = Panel("2. Release latency, gate / floor (p50, p99)", target=1.2, target_label="1.2x")
    for n, pair in s.get("release_asgi", {}).get("n", {}).items():
        for stat in ("p50_ms", "p99_ms"):
            ratio = pair["ratio"][stat]
            met = verdicts.get(f"ASGI {int(n):,} held: release {stat[:3]} gate/floor")
            text = f"{ratio:.2f}x ({_ms(pair['gate'][stat])} vs {_ms(pair['floor'][stat])})"
            rel.bars.append(Bar(f"ASGI {int(n):,} held, {stat[:3]}", ratio, text, "gate", met))
    wsgi = s.get("release_wsgi")
    if wsgi:
        for stat in ("p50_ms", "p99_ms"):
            ratio = wsgi["ratio"][stat]
            met = verdicts.get(f"WSGI gthread {wsgi['n_held']} held: release {stat[:3]} gate/floor")
            text = f"{ratio:.2f}x ({_ms(wsgi['gate'][stat])} vs {_ms(wsgi['floor'][stat])})"
            rel.bars.append(
                Bar(f"WSGI {wsgi['n_held']} threads, {stat[:3]}", ratio, text, "gate", met)
            )
    if rel.bars:
        panels.append(rel)
    ms = Panel(
        "3. Change -> every process obeys / released, p99 (ms)", target=5.0, target_label="5 ms"
    )
    prop = s.get("propagation")
    if prop:
        for mode in ("publish_idle", "publish_busy"):
            met = verdicts.get(f"PUBLISH -> every process ({mode[8:]}), p99 ms")
            g, f = prop["gate"][mode]["p99"], prop["floor"][mode]["p99"]
            ms.bars.append(Bar(f"PUBLISH, {mode[8:]}: gate", g, _ms(g), "gate", met))
            ms.bars.append(Bar(f"PUBLISH, {mode[8:]}: floor", f, _ms(f), "floor"))
    multi = s.get("release_multi")
    if multi:
        g = multi["gate"]["every_process_released_ms"]["p99"]
        f = multi["floor"]["every_process_released_ms"]["p99"]
        met = verdicts.get(f"{multi['server']}: every process released, p99 ms")
        ms.bars.append(
            Bar(f"{multi['n_held']} held, 4 workers released: gate", g, _ms(g), "gate", met)
        )
        ms.bars.append(
            Bar(f"{multi['n_held']} held, 4 workers released: floor", f, _ms(f), "floor")
        )
    if ms.bars:
        panels.append(ms)
    if prop and "bare_set" in prop["gate"]:
        worst = prop["gate"]["bare_set"]["max"]
        met = verdicts.get("bare SET -> every process, max ms")
        p = Panel(
            "3b. Bare SET (no PUBLISH) -> every process, max (ms)",
            target=1000.0,
            target_label="poll 1 s",
        )
        p.bars.append(Bar("bare SET/DEL: gate", worst, _ms(worst), "gate", met))
        panels.append(p)
    mem = Panel("4. RSS per held request, gate / floor", target=1.3, target_label="1.3x")
    for n, pair in s.get("release_asgi", {}).get("n", {}).items():
        if int(n) >= 1000:
            g, f = pair["gate"]["rss_per_held"], pair["floor"]["rss_per_held"]
            met = verdicts.get(f"RSS per held request at {int(n):,}, gate/floor")
            text = f"{g / f:.2f}x ({g / 1024:.1f} vs {f / 1024:.1f} KiB)"
            mem.bars.append(Bar(f"{int(n):,} held", g / f, text, "gate", met))
    if mem.bars:
        panels.append(mem)
    run = s.get("runner", {})
    if run and not run.get("skipped"):
        p = Panel("5. run-migration overhead over the command alone (s)")
        for key in ("true", "sleep5", "true_live"):
            if run.get(key):
                r = run[key]
                p.bars.append(
                    Bar(f"-- {r['command']}", r["overhead_s"], f"{r['overhead_s']:.3f} s")
                )
        p.bars.append(
            Bar(
                "python -c 'import gatekeeper.cli'",
                run["import_floor_s"],
                f"{run['import_floor_s']:.3f} s",
                "floor",
            )
        )
        panels.append(p)
    window = run.get("window") if run and not run.get("skipped") else None
    if window:
        p = Panel(
            "5b. Hold window beyond the command, median over rounds (ms)",
            target=50.0,
            target_label="50 ms",
        )
        for n, w in window.items():
            met = verdicts.get(f"hold window - command, {n} live: median ms")
            text = f"{_ms(w['median_ms'])} (max {_ms(w['max_ms'])})"
            p.bars.append(Bar(f"{n} live gate processes", w["median_ms"], text, "gate", met))
        panels.append(p)
    burst = s.get("burst")
    if burst:
        p = Panel("6. After a release: post-release p99 and the backlog's drain (ms)")
        for kind, scenario in burst.get("servers", {}).items():
            for rate, r in scenario.get("rates", {}).items():
                met = verdicts.get(f"burst {kind} @ {rate} req/s: failed requests")
                failed = f", {r['failed']} failed" if r.get("failed") else ""
                p.bars.append(
                    Bar(
                        f"{kind} @ {rate}/s: post-release p99",
                        r.get("post_p99_ms"),
                        _ms(r.get("post_p99_ms")) + failed,
                        "gate",
                        False if met is False else None,
                    )
                )
                nginx = r.get("nginx_post_p99_ms")
                p.bars.append(Bar(f"{kind} @ {rate}/s: same, in nginx", nginx, _ms(nginx), "floor"))
                p.bars.append(
                    Bar(
                        f"{kind} @ {rate}/s: drain",
                        r.get("drain_ms"),
                        _ms(r.get("drain_ms")),
                        "other",
                    )
                )
        panels.append(p)
    return panels
