"""1. Open-path overhead: bare vs gate (state open) vs naive per-request Redis GET.

For each app the three variants run side by side as separate servers (gunicorn with 2
sync workers, or uvicorn with 1 worker), are warmed up (the gate starts its watcher
lazily, on the first request of each worker), then loaded with the same generator in
alternating order over several rounds, with a short pause before each round so the
previous server has finished its last requests. The gate and the naive variant each
talk to a Redis server of their own, and around each of their rounds that server's
command counters (``INFO commandstats``) are read: commands per request, with nothing
else counted. The servers' workers' CPU time (user + system, from ``/proc``) is read
around every round too: CPU per request is far less disturbed than throughput by other
load on the machine, and "keeps >= 0.97 of bare throughput" on a CPU-bound server
means at most 1/0.97 = 1.031 times the bare CPU per request.

The gate's watcher polls (``GET`` + ``HGETALL``) and writes its heartbeat (``SET`` +
``ZADD``) once per ``poll_interval`` (1 s) per process whatever the traffic; those
commands are reported and compared with that allowance rather than hidden.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import redis

from benchmarks import servers
from benchmarks.config import Context
from benchmarks.micro import gate_cost_us
from benchmarks.redisinfo import command_counts, command_diff
from benchmarks.stats import median, ratio, round_ratios, spread
from benchmarks.wrk import run_wrk
from gatekeeper.testing import RedisServer

__all__ = ["APPS", "run"]

VARIANTS = ("bare", "gate", "naive")
POLL_INTERVAL = 1.0  # the gate's default; its background commands scale with it
BACKGROUND_PER_POLL = 6  # GET state, HGETALL info, GET keepalive, GET handoff; SET + ZADD
SETTLE_SECONDS = 0.25


@dataclass(frozen=True)
class AppCase:
    key: str
    label: str
    server: str  # "gunicorn" (2 sync workers) or "uvicorn" (1 worker)
    module: str


APPS = (
    AppCase("wsgi", "plain WSGI", "gunicorn", "benchmarks.apps.wsgi_hello:app"),
    AppCase("flask", "Flask", "gunicorn", "benchmarks.apps.flask_hello:app"),
    AppCase("asgi", "pure ASGI", "uvicorn", "benchmarks.apps.asgi_hello:app"),
    AppCase("starlette", "Starlette", "uvicorn", "benchmarks.apps.starlette_hello:app"),
    AppCase("django", "Django", "gunicorn", "benchmarks.apps.django_hello:app"),
)


def _server(ctx: Context, case: AppCase, variant: str, redis_url: str) -> servers.Server:
    env = ctx.env(ctx.prefix(f"open-{case.key}"), variant, GATEKEEPER_REDIS_URL=redis_url)
    name = f"{case.key}-{variant}"
    if case.server == "gunicorn":
        return servers.gunicorn(name, case.module, env, workers=2)
    return servers.uvicorn(name, case.module, env, workers=1)


def _round(
    ctx: Context, server: servers.Server, variant: str, client: redis.Redis
) -> dict[str, Any]:
    s = ctx.settings
    time.sleep(SETTLE_SECONDS)
    pids = server.worker_pids()
    before = command_counts(client) if variant != "bare" else {}
    cpu_before = servers.cpu_seconds(pids)
    result = run_wrk(server.url, s.open_seconds, s.load_threads, s.load_connections)
    row = result.row()
    row["cpu_us_per_request"] = (
        (servers.cpu_seconds(pids) - cpu_before) / max(1, result.requests) * 1e6
    )
    if variant != "bare":
        commands = command_diff(before, command_counts(client))
        row["commands"] = commands
        row["commands_total"] = sum(commands.values())
        row["commands_per_request"] = row["commands_total"] / max(1, result.requests)
    return row


def _summarize(
    case: AppCase, rounds: dict[str, list[dict[str, Any]]], ctx: Context, gate_us: float
) -> dict[str, Any]:
    processes = 2 if case.server == "gunicorn" else 1
    seconds = ctx.settings.open_seconds
    allowance = processes * BACKGROUND_PER_POLL * (int(seconds / POLL_INTERVAL) + 2)
    summary: dict[str, Any] = {"label": case.label, "server": case.server, "variants": {}}
    for variant, rows in rounds.items():
        summary["variants"][variant] = {
            "rps": median([r["rps"] for r in rows]),
            "p50_ms": median([r["p50_ms"] for r in rows]),
            "p99_ms": median([r["p99_ms"] for r in rows]),
            "cpu_us_per_request": median([r["cpu_us_per_request"] for r in rows]),
            "errors": sum(r["errors"] + r["non2xx"] for r in rows),
            "commands_per_request": median([r.get("commands_per_request", 0.0) for r in rows]),
            "commands_max_round": max((r.get("commands_total", 0) for r in rows), default=0),
            "rounds": rows,
        }
    bare = summary["variants"]["bare"]
    for variant in ("gate", "naive"):
        v = summary["variants"][variant]
        per_round = round_ratios(
            [r["rps"] for r in rounds[variant]], [r["rps"] for r in rounds["bare"]]
        )
        v["rps_ratio"] = ratio(v["rps"], bare["rps"])
        v["rps_ratio_rounds"] = spread(per_round)
        v["rps_ratio_paired_median"] = median(per_round)
        v["cpu_ratio"] = ratio(v["cpu_us_per_request"], bare["cpu_us_per_request"])
        v["p50_ratio"] = ratio(v["p50_ms"], bare["p50_ms"])
        v["p99_ratio"] = ratio(v["p99_ms"], bare["p99_ms"])
    gate = summary["variants"]["gate"]
    bare_cpu = bare["cpu_us_per_request"]
    gate["micro_gate_us"] = gate_us
    gate["estimated_rps_ratio"] = bare_cpu / (bare_cpu + gate_us) if bare_cpu else None
    gate["background_allowance"] = allowance
    gate["zero_per_request"] = gate["commands_max_round"] <= allowance
    return summary


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    results: dict[str, Any] = {
        "settings": {
            "rounds": s.open_rounds,
            "seconds": s.open_seconds,
            "load": f"wrk -t{s.load_threads} -c{s.load_connections}",
            "gunicorn": "2 sync workers",
            "uvicorn": "1 worker",
        },
        "apps": {},
    }
    ctx.log("open path: the gate's in-process cost per request (micro)")
    micro = gate_cost_us(ctx.redis_server.url, ctx.prefix("micro"))
    results["micro"] = micro
    ctx.log(
        f"  gate adds {micro['wsgi_gate_us']:.2f} us (WSGI), {micro['asgi_gate_us']:.2f} us (ASGI)"
    )
    for case in APPS:
        ctx.log(
            f"open path: {case.label} ({case.server}), {s.open_rounds} rounds x {s.open_seconds}s"
        )
        with contextlib.ExitStack() as stack:
            # The gate and the naive variant get a Redis each: their counts stay apart.
            own = {v: stack.enter_context(RedisServer()) for v in ("gate", "naive")}
            urls = {"bare": ctx.redis_server.url, **{v: r.url for v, r in own.items()}}
            clients = {v: redis.Redis.from_url(url) for v, url in urls.items()}
            group = {v: stack.enter_context(_server(ctx, case, v, urls[v])) for v in VARIANTS}
            for variant in VARIANTS:  # warm up: workers booted, gate watchers started
                run_wrk(group[variant].url, s.warmup_seconds, s.load_threads, s.load_connections)
            rounds: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for number in range(s.open_rounds):
                shift = number % len(VARIANTS)
                for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                    row = _round(ctx, group[variant], variant, clients[variant])
                    rounds[variant].append(row)
        gate_us = micro["wsgi_gate_us" if case.server == "gunicorn" else "asgi_gate_us"]
        results["apps"][case.key] = _summarize(case, rounds, ctx, gate_us)
        v = results["apps"][case.key]["variants"]
        ctx.log(
            f"  req/s bare {v['bare']['rps']:.0f}, gate {v['gate']['rps']:.0f} "
            f"({v['gate']['rps_ratio']:.3f}), naive {v['naive']['rps']:.0f} "
            f"({v['naive']['rps_ratio']:.3f}); CPU/req gate/bare {v['gate']['cpu_ratio']:.3f}; "
            f"gate redis cmds/req {v['gate']['commands_per_request']:.5f}"
        )
    return results
