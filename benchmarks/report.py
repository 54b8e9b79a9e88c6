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
        ("publish_idle", "PUBLISH mode name, idle"),
        ("publish_busy", "PUBLISH mode name, busy"),
        ("publish_x_idle", "PUBLISH 'x' (re-read), idle"),
        ("publish_x_busy", "PUBLISH 'x' (re-read), busy"),
        ("bare_set", "bare SET/DEL, no PUBLISH"),
    ):
        if mode not in section["gate"]:
            continue
        floor_key = mode.replace("publish_x_", "publish_")
        gate, floor = section["gate"][mode], section["floor"].get(floor_key, {})
        ratios = "/".join(_num(gate.get(f"ratio_{stat}")) for stat in ("p50", "p99"))
        rows.append(
            [
                label,
                str(gate.get("n", "-")),
                _stats(floor) if floor else "-",
                _stats(gate),
                ratios if floor else "-",
            ]
        )
    title = (
        f"3. Propagation: change -> all {section['processes']} processes obey "
        f"({section['obeyed_via']}; probe RTT {section['probe_rtt_ms']:.2f} ms)"
    )
    headers = ["path", "trials", "floor p50/p99/max ms", "gate p50/p99/max ms", "gate/floor"]
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
    text = title + "\n" + table(["command", "alone s", "run-migration s", "overhead s"], rows)
    window = section.get("window")
    if window:
        rows = [
            [
                str(n),
                str(w.get("status_processes", w.get("live_before", "-"))),
                str(w["n"]),
                _num(w["median_ms"], 1),
                _num(w["max_ms"], 1),
                _num(w.get("json_median_ms"), 1),
                " / ".join(
                    _num(w.get(k), 1)
                    for k in ("drain_ms", "spawn_ms", "exit_ms", "after_command_ms")
                ),
            ]
            for n, w in window.items()
        ]
        headers = [
            "live processes",
            "live (status)",
            "rounds",
            "median ms",
            "max ms",
            "runner clock ms",
            "drain / spawn / exit seen / release ms",
        ]
        text += (
            "\n\n5b. Hold window beyond the command: (open - hold message) - (command end - "
            "start), `sh -c 'date; sleep 1; date'`\n" + table(headers, rows)
        )
    return text


def _burst(section: dict[str, Any]) -> str:
    rows = []
    for kind, scenario in section.get("servers", {}).items():
        for rate, r in scenario.get("rates", {}).items():
            rows.append(
                [
                    f"{kind} @ {rate}/s",
                    str(r["rounds"]),
                    str(r["requests"]),
                    str(r["failed"]),
                    _num(r["held"], 0),
                    _num(r.get("gate_held"), 0),
                    " / ".join(
                        _num(r.get(k), 0) for k in ("post_p50_ms", "post_p99_ms", "post_max_ms")
                    ),
                    f"{_num(r['drain_ms'], 0)} ({_num(r['drain_max_ms'], 0)})",
                    " / ".join(
                        _num(r.get(k), 0)
                        for k in ("nginx_post_p50_ms", "nginx_post_p99_ms", "nginx_drain_ms")
                    ),
                    _num(r["max_latency_ms"], 0),
                    _num(r.get("lateness_max_ms"), 0),
                ]
            )
    headers = [
        "server @ rate",
        "rounds",
        "requests",
        "failed",
        "held",
        "in gate",
        "post-release p50/p99/max ms",
        "drain ms (max)",
        "nginx: post p50/p99, drain ms",
        "max ms",
        "client late ms",
    ]
    title = (
        f"6. Burst after a release: {section['hosts']} hosts x {section['workers']} workers "
        f"behind nginx, run-migration -- {section['command']}; post-release = sent within "
        f"{section['window_s']:g} s after it (medians over rounds, max of max)"
    )
    return title + "\n" + table(headers, rows)


def _targets(targets: list[Target]) -> str:
    rows = []
    for t in targets:
        verdict = {True: "met", False: "MISSED", None: "-"}[t.met]
        rows.append([t.metric, _num(t.value, 3), t.target, verdict, t.note])
    footnote = (
        "\n* or 1.2x the floor's own p99, whichever is larger"
        if any(t.target.endswith("*") for t in targets)
        else ""
    )
    return "Targets\n" + table(["metric", "value", "target", "", "note"], rows) + footnote


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
    if "burst" in sections:
        parts.append(_burst(sections["burst"]))
    for name, error in results.get("errors", {}).items():
        parts.append(f"{name}: FAILED: {error}")
    parts.append(_targets(targets))
    return "\n\n".join(parts)
