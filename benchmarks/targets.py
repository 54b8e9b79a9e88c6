"""The issue's targets, judged against one run's results.

Each :class:`Target` names what was measured, its value, the target, whether it was
met (``None`` when there is no target or nothing was measured) and a short note.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Target", "judge"]


@dataclass
class Target:
    section: str
    metric: str
    value: float | None
    target: str
    met: bool | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


P99_MS = 5.0
P99_TARGET = "<= 5 ms*"
"""The issue's "p99 <= 5 ms where the floor allows it": the limit is the larger of 5 ms
and 1.2x the floor's own p99 (a slow floor is the machine's scheduling, not the gate)."""


def _p99_within(value: float | None, floor: float | None) -> bool | None:
    limit = P99_MS if floor is None else max(P99_MS, 1.2 * floor)
    return _at_most(value, limit)


def _open_targets(section: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    for app in section.get("apps", {}).values():
        gate = app["variants"]["gate"]
        kept = gate.get("rps_ratio")
        spread = gate.get("rps_ratio_rounds") or (None, None)
        note = f"rounds {spread[0]:.3f}-{spread[1]:.3f}" if spread[0] is not None else ""
        out.append(
            Target(
                "open",
                f"{app['label']}: gate req/s / bare",
                kept,
                ">= 0.97",
                None if kept is None else kept >= 0.97,
                note,
            )
        )
        estimate = gate.get("estimated_rps_ratio")
        bare_cpu = app["variants"]["bare"].get("cpu_us_per_request")
        gate_us = gate.get("micro_gate_us")
        out.append(
            Target(
                "open",
                f"{app['label']}: est. req/s kept (bare CPU/req + gate cost)",
                estimate,
                ">= 0.97",
                None if estimate is None else estimate >= 0.97,
                f"{bare_cpu:.1f} us/req bare + {gate_us:.2f} us gate"
                if bare_cpu and gate_us
                else "",
            )
        )
        per_request = gate.get("commands_per_request")
        allowance = gate.get("background_allowance")
        out.append(
            Target(
                "open",
                f"{app['label']}: gate Redis commands / request",
                per_request,
                "0 per request",
                gate.get("zero_per_request"),
                f"max {gate.get('commands_max_round')} cmds/round; "
                f"poll + heartbeat allowance {allowance}",
            )
        )
    return out


def _release_targets(results: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    cases: list[tuple[str, dict[str, Any]]] = []
    for n, pair in results.get("release_asgi", {}).get("n", {}).items():
        cases.append((f"ASGI {int(n):,} held", pair))
    wsgi = results.get("release_wsgi")
    if wsgi and "ratio" in wsgi:
        cases.append((f"WSGI gthread {wsgi['n_held']} held", wsgi))
    for label, pair in cases:
        for stat in ("p50_ms", "p99_ms"):
            value = pair["ratio"].get(stat)
            gate, floor = pair["gate"].get(stat), pair["floor"].get(stat)
            note = f"gate {gate:.1f} ms vs floor {floor:.1f} ms" if gate and floor else ""
            name = f"{label}: release {stat[:3]} gate/floor"
            out.append(Target("release", name, value, "<= 1.2x", _at_most(value, 1.2), note))
    multi = results.get("release_multi")
    if multi:
        every = multi["gate"]["every_process_released_ms"]
        floor = multi["floor"]["every_process_released_ms"]
        out.append(
            Target(
                "release",
                f"{multi['server']}: every process released, p99 ms",
                every["p99"],
                P99_TARGET,
                _p99_within(every["p99"], floor["p99"]),
                f"floor {floor['p99']:.1f} ms; {every['n']} rounds of {multi['n_held']} held",
            )
        )
    return out


def _propagation_targets(section: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    gate, floor = section.get("gate", {}), section.get("floor", {})
    for mode in ("publish_idle", "publish_busy"):
        if mode not in gate:
            continue
        p99 = gate[mode]["p99"]
        note = f"floor p99 {floor[mode]['p99']:.1f} ms" if mode in floor else ""
        out.append(
            Target(
                "propagation",
                f"PUBLISH -> every process ({mode[8:]}), p99 ms",
                p99,
                P99_TARGET,
                _p99_within(p99, floor[mode]["p99"] if mode in floor else None),
                note,
            )
        )
        if mode not in floor:
            continue
        # The mode-name PUBLISH (the CLI's) is judged against the floor; "x" is reported.
        for key, judged in ((mode, True), (f"publish_x_{mode[8:]}", False)):
            if key not in gate:
                continue
            for stat in ("p50", "p99"):
                value = gate[key].get(f"ratio_{stat}")
                label = "mode name" if judged else "'x', re-read first"
                out.append(
                    Target(
                        "propagation",
                        f"PUBLISH {label} ({mode[8:]}): {stat} gate/floor",
                        value,
                        "<= 1.2x" if judged else "(reported)",
                        _at_most(value, 1.2) if judged else None,
                        f"gate {gate[key][stat]:.1f} ms vs floor {floor[mode][stat]:.1f} ms",
                    )
                )
    if "bare_set" in gate:
        worst = gate["bare_set"]["max"]
        limit = section.get("poll_interval_ms", 1000.0)
        out.append(
            Target(
                "propagation",
                "bare SET -> every process, max ms",
                worst,
                f"<= {limit:.0f} ms (poll)",
                _at_most(worst, limit),
                "",
            )
        )
    return out


def _memory_targets(section: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    for n, pair in section.get("n", {}).items():
        if int(n) < 1000:
            continue
        value = pair["ratio"].get("rss_per_held")
        gate, floor = pair["gate"].get("rss_per_held"), pair["floor"].get("rss_per_held")
        note = (
            f"gate {gate / 1024:.1f} KiB vs floor {floor / 1024:.1f} KiB" if gate and floor else ""
        )
        out.append(
            Target(
                "memory",
                f"RSS per held request at {int(n):,}, gate/floor",
                value,
                "<= 1.3x",
                _at_most(value, 1.3),
                note,
            )
        )
    return out


def _runner_targets(section: dict[str, Any]) -> list[Target]:
    if section.get("skipped"):
        return [Target("runner", "runner overhead", None, "(measured)", None, section["note"])]
    out = []
    for key in ("true", "sleep5", "true_live"):
        r = section.get(key)
        if r:
            note = f"import floor {section.get('import_floor_s', 0):.3f} s"
            out.append(
                Target(
                    "runner",
                    f"run-migration -- {r['command']}: overhead s",
                    r["overhead_s"],
                    "(no target)",
                    None,
                    note,
                )
            )
    for n, w in section.get("window", {}).items():
        out.append(
            Target(
                "runner",
                f"hold window - command, {n} live: median ms",
                w.get("median_ms"),
                "<= 50 ms",
                _at_most(w.get("median_ms"), 50.0),
                f"max {w['max_ms']:.1f} ms over {w['n']} rounds; drain {w['drain_ms']:.1f} ms"
                if w.get("max_ms") is not None and w.get("drain_ms") is not None
                else "",
            )
        )
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _burst_targets(section: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    for kind, scenario in section.get("servers", {}).items():
        for rate, r in scenario.get("rates", {}).items():
            label = f"burst {kind} @ {rate} req/s"
            failures = ", ".join(f"{k} {v}" for k, v in r.get("failures", {}).items())
            out.append(
                Target(
                    "burst",
                    f"{label}: failed requests",
                    r.get("failed"),
                    "0",
                    None if r.get("failed") is None else r["failed"] == 0,
                    f"of {r['requests']} in {r['rounds']} rounds"
                    + (f": {failures}" if failures else ""),
                )
            )
            out.append(
                Target(
                    "burst",
                    f"{label}: post-release p99 ms",
                    r.get("post_p99_ms"),
                    "(reported)",
                    None,
                    f"drain {r['drain_ms']:.0f} ms (max {r['drain_max_ms']:.0f}); "
                    f"{r['held']:.0f} held; in nginx p99 {_fmt(r.get('nginx_post_p99_ms'))}"
                    if r.get("drain_ms") is not None and r.get("held") is not None
                    else "",
                )
            )
    return out


def judge(results: dict[str, Any]) -> list[Target]:
    """Every target the issue names, for the sections present in ``results``."""
    sections = results.get("sections", {})
    out: list[Target] = []
    if "open" in sections:
        out += _open_targets(sections["open"])
    if "instructions" in sections and not sections["instructions"].get("skipped"):
        kept = sections["instructions"].get("kept_ratio")
        extra = sections["instructions"].get("gate_extra_ir_per_request")
        out.append(Target(
            "instructions", "pure ASGI: instructions/request bare / gate (callgrind)", kept,
            ">= 0.97", None if kept is None else kept >= 0.97,
            "" if extra is None else f"gate adds {extra:,.0f} instructions/request",
        ))  # fmt: skip
        metered = sections["instructions"].get("metrics_kept_ratio")
        if metered is not None:
            added = sections["instructions"].get("metrics_extra_ir_per_request", 0.0)
            out.append(Target(
                "instructions",
                "pure ASGI, metrics on (prometheus, /metrics): bare / gate (callgrind)",
                metered, ">= 0.97", metered >= 0.97,
                f"gate with metrics adds {added:,.0f} instructions/request",
            ))  # fmt: skip
    out += _release_targets(sections)
    if "propagation" in sections:
        out += _propagation_targets(sections["propagation"])
    if "release_asgi" in sections:
        out += _memory_targets(sections["release_asgi"])
    if "runner" in sections:
        out += _runner_targets(sections["runner"])
    if "burst" in sections:
        out += _burst_targets(sections["burst"])
    return out
