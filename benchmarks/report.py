"""The printed report: one table per section, then every target with met / missed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.targets import Target

__all__ = ["render_report", "table"]


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        parts = [str(first).ljust(widths[0])]
        parts += [str(c).rjust(w) for c, w in zip(rest, widths[1:], strict=False)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _open(section: dict[str, Any]) -> str:
    s = section["settings"]
    rows = []
    for app in section["apps"].values():
        for name, v in app["variants"].items():
            ratio = "1.000" if name == "bare" else _num(v.get("rps_ratio"), 3)
            cmds = "-" if name == "bare" else _num(v.get("commands_per_request"), 5)
            cpu = "1.000" if name == "bare" else _num(v.get("cpu_ratio"), 3)
            rows.append(
                [
                    f"{app['label']} ({app['server']})",
                    name,
                    _num(v["rps"], 0),
                    ratio,
                    _num(v["p50_ms"]),
                    _num(v["p99_ms"]),
                    _num(v.get("cpu_us_per_request"), 1),
                    cpu,
                    cmds,
                    str(v["errors"]),
                ]
            )
    title = (
        f"1. Open path: {s['load']}, {s['rounds']} rounds x {s['seconds']} s alternated, "
        f"medians; gunicorn {s['gunicorn']}, uvicorn {s['uvicorn']}"
    )
    headers = [
        "app",
        "variant",
        "req/s",
        "vs bare",
        "p50 ms",
        "p99 ms",
        "CPU us/req",
        "vs bare",
        "redis cmd/req",
        "errors",
    ]
    return title + "\n" + table(headers, rows)


def _triple(d: dict[str, Any]) -> str:
    return " / ".join(_num(d.get(k), 1) for k in ("p50_ms", "p99_ms", "max_ms"))


def _stats(d: dict[str, Any], digits: int = 2) -> str:
    return " / ".join(_num(d.get(k), digits) for k in ("p50", "p99", "max"))


def _release(sections: dict[str, Any]) -> str:
    rows = []
    asgi = sections.get("release_asgi", {})
    for n, pair in asgi.get("n", {}).items():
        r = pair["ratio"]
        rows.append(
            [
                f"ASGI, {asgi['server']}",
                f"{int(n):,}",
                _triple(pair["floor"]),
                _triple(pair["gate"]),
                " / ".join(_num(r.get(k)) for k in ("p50_ms", "p99_ms", "max_ms")),
                str(pair["gate"]["bad"]),
            ]
        )
    wsgi = sections.get("release_wsgi")
    if wsgi:
        r = wsgi["ratio"]
        rows.append(
            [
                f"WSGI, {wsgi['server']}",
                str(wsgi["n_held"]),
                _triple(wsgi["floor"]),
                _triple(wsgi["gate"]),
                " / ".join(_num(r.get(k)) for k in ("p50_ms", "p99_ms", "max_ms")),
                str(wsgi["gate"]["bad"]),
            ]
        )
    multi = sections.get("release_multi")
    if multi:
        g, f = (
            multi["gate"]["every_process_released_ms"],
            multi["floor"]["every_process_released_ms"],
        )
        rows.append(
            [
                f"ASGI, {multi['server']}: every process released",
                str(multi["n_held"]),
                _stats(f, 1),
                _stats(g, 1),
                " / ".join(_num(multi["ratio"].get(k)) for k in ("p50", "p99", "max")),
                str(multi["gate"]["bad"]),
            ]
        )
    headers = ["case", "held", "floor p50/p99/max ms", "gate p50/p99/max ms", "gate/floor", "bad"]
    title = "2. Release latency: PUBLISH -> each response (medians over rounds)"
    return title + "\n" + table(headers, rows)


def _memory(section: dict[str, Any]) -> str:
    rows = []
    for n, pair in section.get("n", {}).items():
        if int(n) < 1000:
            continue  # the warm-up holds 100: a delta at 100 held is mostly reused memory
        gate, floor = pair["gate"].get("rss_per_held"), pair["floor"].get("rss_per_held")
        rows.append(
            [f"{int(n):,}", _num(floor, 0), _num(gate, 0), _num(pair["ratio"].get("rss_per_held"))]
        )
    title = "4. Memory: RSS bytes per held request in one uvicorn worker (fresh server per round)"
    return title + "\n" + table(["held", "floor B/held", "gate B/held", "gate/floor"], rows)


def _propagation(section: dict[str, Any]) -> str:
    rows = []
    for mode, label in (
        ("publish_idle", "PUBLISH, idle"),
        ("publish_busy", "PUBLISH, busy"),
        ("bare_set", "bare SET/DEL, no PUBLISH"),
    ):
        gate, floor = section["gate"].get(mode, {}), section["floor"].get(mode, {})
        rows.append([label, str(gate.get("n", "-")), _stats(floor) if floor else "-", _stats(gate)])
    title = (
        f"3. Propagation: change -> all {section['processes']} processes obey "
        f"({section['obeyed_via']}; probe RTT {section['probe_rtt_ms']:.2f} ms)"
    )
    headers = ["path", "trials", "floor p50/p99/max ms", "gate p50/p99/max ms"]
    return title + "\n" + table(headers, rows)


def _runner(section: dict[str, Any]) -> str:
    if section.get("skipped"):
        return "5. Runner overhead: " + str(section["note"])
    rows = [
        [r["command"], _num(r["alone_s"], 3), _num(r["runner_s"], 3), _num(r["overhead_s"], 3)]
        for r in (section.get(k) for k in ("true", "sleep5", "true_live"))
        if r
    ]
    title = (
        f"5. Runner overhead: wall time, medians (interpreter + import floor "
        f"{section['import_floor_s']:.3f} s)"
    )
    return title + "\n" + table(["command", "alone s", "run-migration s", "overhead s"], rows)


def _targets(targets: list[Target]) -> str:
    rows = []
    for t in targets:
        verdict = {True: "met", False: "MISSED", None: "-"}[t.met]
        rows.append([t.metric, _num(t.value, 3), t.target, verdict, t.note])
    return "Targets\n" + table(["metric", "value", "target", "", "note"], rows)


def render_report(results: dict[str, Any], targets: list[Target]) -> str:
    sections = results["sections"]
    parts = [f"machine: {results['machine_line']}"]
    if "open" in sections:
        parts.append(_open(sections["open"]))
    if any(k in sections for k in ("release_asgi", "release_wsgi", "release_multi")):
        parts.append(_release(sections))
    if "propagation" in sections:
        parts.append(_propagation(sections["propagation"]))
    if "release_asgi" in sections:
        parts.append(_memory(sections["release_asgi"]))
    if "runner" in sections:
        parts.append(_runner(sections["runner"]))
    for name, error in results.get("errors", {}).items():
        parts.append(f"{name}: FAILED: {error}")
    parts.append(_targets(targets))
    return "\n\n".join(parts)
