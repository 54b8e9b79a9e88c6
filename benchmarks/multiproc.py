"""2b. Release across worker processes: uvicorn ``--workers 4``, one PUBLISH releases all.

Gate and floor servers run side by side; each round sends ``multi_held`` requests (the
kernel spreads the connections over the workers), waits until the reports say all are
held, releases, and reads from each response's body which worker answered. Per round
and per process, "released" is that process's first response after the PUBLISH; the
figure that counts is the slowest process of the round (every process released), and
its p99 over the rounds. The last response per process is reported beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchmarks import servers
from benchmarks.config import Context
from benchmarks.holdclient import hold_round
from benchmarks.holders import HOLD_ENV, Holder
from benchmarks.stats import ratio, summarize

__all__ = ["run"]

KINDS = ("floor", "gate")


def _kind_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    every_first = [r["every_process_first_ms"] for r in rows]
    every_last = [r["every_process_last_ms"] for r in rows]
    return {
        "every_process_released_ms": summarize(every_first),
        "every_response_ms": summarize(every_last),
        "processes_seen_min": min((r["processes"] for r in rows), default=0),
        "bad": sum(r["bad"] for r in rows),
        "rounds": rows,
    }


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    workers, n = s.multi_workers, s.multi_held
    ctx.log(f"release (ASGI, {workers} workers): {n} held, {s.multi_rounds} rounds")
    rounds: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    with contextlib.ExitStack() as stack:
        holders: dict[str, Holder] = {}
        group: dict[str, servers.Server] = {}
        for kind in KINDS:
            prefix = ctx.prefix(f"multi-{kind}")
            holders[kind] = Holder(ctx.client, kind, prefix)
            holders[kind].prepare()
            env = ctx.env(prefix, "gate", **HOLD_ENV)
            server = servers.uvicorn(f"multi-{kind}", holders[kind].app, env, workers)
            group[kind] = stack.enter_context(server)
        for number in range(s.multi_rounds):
            for kind in KINDS if number % 2 == 0 else KINDS[::-1]:
                holder = holders[kind]
                holder.arm(workers)
                result = asyncio.run(hold_round(group[kind].port, n, holder.held, holder.release))
                firsts = [min(v) for v in result.by_pid.values()]
                lasts = [max(v) for v in result.by_pid.values()]
                rounds[kind].append(
                    {
                        "processes": len(result.by_pid),
                        "per_process_first_ms": sorted(firsts),
                        "every_process_first_ms": max(firsts, default=float("nan")),
                        "every_process_last_ms": max(lasts, default=float("nan")),
                        "bad": result.failed + result.early + result.missing,
                    }
                )
    out: dict[str, Any] = {"server": f"uvicorn --workers {workers}", "n_held": n}
    for kind in KINDS:
        out[kind] = _kind_summary(rounds[kind])
    gate = out["gate"]["every_process_released_ms"]
    floor = out["floor"]["every_process_released_ms"]
    out["ratio"] = {key: ratio(gate[key], floor[key]) for key in ("p50", "p99", "max")}
    ctx.log(
        f"  every process released: p99 gate {gate['p99']:.2f} ms vs floor {floor['p99']:.2f} ms"
        f" (processes seen per round >= {out['gate']['processes_seen_min']})"
    )
    return out
