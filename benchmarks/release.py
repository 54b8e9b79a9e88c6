"""2. Release latency (and 4. memory): held requests released by one PUBLISH.

ASGI: for each N (100, 1,000, 10,000) and each round, a fresh uvicorn (1 worker) with
the gate, then one with the floor app (order alternated by round). Each server first
holds and releases 100 requests (warm-up, not measured), then holds N; once its
reports say all N are held the worker's RSS is read again, and the release is sent.
Latency is from just before the release PUBLISH to the first byte of each response.
RSS per held request is (RSS with N held - RSS just before) / N in that worker.

WSGI: gunicorn with one gthread worker of ``wsgi_threads`` threads, gate and floor
servers side by side, N = the number of threads, rounds alternated.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchmarks import servers
from benchmarks.config import Context
from benchmarks.holdclient import ReleaseResult, hold_round
from benchmarks.holders import HOLD_ENV, Holder
from benchmarks.stats import median, ratio, summarize

__all__ = ["run_asgi", "run_wsgi", "summarize_pair"]

KINDS = ("floor", "gate")
WARMUP_HELD = 100


def _round_row(result: ReleaseResult) -> dict[str, Any]:
    stats = summarize(result.latencies_ms)
    return {
        "n": result.n,
        "p50_ms": stats["p50"],
        "p99_ms": stats["p99"],
        "max_ms": stats["max"],
        "failed": result.failed,
        "early": result.early,
        "missing": result.missing,
        "processes": len(result.by_pid),
    }


def summarize_pair(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over rounds per kind, and gate/floor ratios of those medians."""
    out: dict[str, Any] = {}
    for kind, rows in rounds.items():
        out[kind] = {
            key: median([r[key] for r in rows if r.get(key) is not None])
            for key in ("p50_ms", "p99_ms", "max_ms", "rss_per_held")
            if any(r.get(key) is not None for r in rows)
        }
        out[kind]["bad"] = sum(r["failed"] + r["early"] + r["missing"] for r in rows)
        out[kind]["rounds"] = rows
    if "gate" in out and "floor" in out:
        out["ratio"] = {
            key: ratio(out["gate"].get(key), out["floor"].get(key))
            for key in ("p50_ms", "p99_ms", "max_ms", "rss_per_held")
            if key in out["gate"]
        }
    return out


def _order(number: int) -> tuple[str, ...]:
    return KINDS if number % 2 == 0 else KINDS[::-1]


def _asgi_round(ctx: Context, kind: str, n: int) -> dict[str, Any]:
    prefix = ctx.prefix(f"release-{kind}")
    holder = Holder(ctx.client, kind, prefix)
    holder.prepare()
    env = ctx.env(prefix, "gate", **HOLD_ENV)
    with servers.uvicorn(f"release-{kind}", holder.app, env) as server:
        pid = server.worker_pids()[0]
        holder.arm(1)
        asyncio.run(hold_round(server.port, WARMUP_HELD, holder.held, holder.release))
        holder.arm(1)
        rss = {"before": servers.rss_bytes(pid)}
        result = asyncio.run(
            hold_round(
                server.port,
                n,
                holder.held,
                holder.release,
                on_held=lambda: rss.update(after=servers.rss_bytes(pid)),
            )
        )
    row = _round_row(result)
    row["rss_before"] = rss["before"]
    row["rss_per_held"] = (rss["after"] - rss["before"]) / n
    row["hold_seconds"] = result.hold_seconds
    return row


def run_asgi(ctx: Context, ns: tuple[int, ...]) -> dict[str, Any]:
    results: dict[str, Any] = {"server": "uvicorn, 1 worker, fresh per round", "n": {}}
    for n in ns:
        rounds: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
        count = ctx.settings.asgi_rounds[n]
        ctx.log(f"release (ASGI): {n} held, {count} rounds, gate vs asyncio.Event floor")
        for number in range(count):
            for kind in _order(number):
                rounds[kind].append(_asgi_round(ctx, kind, n))
        pair = summarize_pair(rounds)
        results["n"][str(n)] = pair
        ctx.log(
            f"  p99 gate {pair['gate']['p99_ms']:.1f} ms vs floor {pair['floor']['p99_ms']:.1f} "
            f"ms; RSS/held gate {pair['gate']['rss_per_held']:.0f} B vs floor "
            f"{pair['floor']['rss_per_held']:.0f} B"
        )
    return results


def run_wsgi(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    n = s.wsgi_threads
    ctx.log(f"release (WSGI): gunicorn gthread 1x{n} threads, {n} held, {s.wsgi_rounds} rounds")
    rounds: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    with contextlib.ExitStack() as stack:
        holders: dict[str, Holder] = {}
        group: dict[str, servers.Server] = {}
        for kind in KINDS:
            prefix = ctx.prefix(f"release-wsgi-{kind}")
            holders[kind] = Holder(ctx.client, kind, prefix)
            holders[kind].prepare()
            env = ctx.env(prefix, "gate", **HOLD_ENV)
            server = servers.gunicorn(f"wsgi-{kind}", holders[kind].wsgi_app, env, 1, threads=n)
            group[kind] = stack.enter_context(server)
        for number in range(s.wsgi_rounds):
            for kind in _order(number):
                holder = holders[kind]
                holder.arm(1)
                result = asyncio.run(hold_round(group[kind].port, n, holder.held, holder.release))
                rounds[kind].append(_round_row(result))
    pair = summarize_pair(rounds)
    ctx.log(f"  p99 gate {pair['gate']['p99_ms']:.2f} ms vs floor {pair['floor']['p99_ms']:.2f} ms")
    return {"server": f"gunicorn gthread, 1 worker x {n} threads", "n_held": n, **pair}
