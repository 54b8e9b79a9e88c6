"""The burst after a release: how long requests that arrive just after a hold's release
wait, and how long the held backlog takes to drain.

Two hosts (two server masters on their own loopback ports, 2 workers each, the gate in
the hello app, one Redis and one prefix, each reporting its own host name) behind a real
nginx (:mod:`benchmarks.nginx`, ``keepalive 32``, its ``worker_connections`` raised so
that thousands of held requests fit: each takes two connections in nginx). Two servers:
gunicorn gthread (25 threads per worker, gatekeeper's gunicorn hooks) with
``benchmarks.apps.wsgi_hello``, and uvicorn with ``benchmarks.apps.asgi_hello``.

Each round: open-loop traffic (``tools.openloop``: fixed-rate arrivals, 3 GET : 1 POST,
never resent) starts; ``LEAD_S`` later ``python -m gatekeeper run-migration --max-hold 30
--min-processes 4 --json -- sleep 6`` holds, drains, sleeps and opens; the traffic goes
on until ``AFTER_S`` after the release, then stops and the requests in flight finish.

The hold's start and the release are the runner's own timestamps from its ``--json``
summary: ``started_at`` and ``released_at``, ``time.time()`` taken right after the Redis
write (the Lua script that SETs the state and PUBLISHes) returned, so at most one Redis
round trip (well under 1 ms on loopback) after the gates could hear it. They are mapped
onto the generator's clock with its ``started_at`` (both ``time.time()`` on this host).

From the records (:func:`burst_stats`): a request *arrived* at its send time (its
scheduled time if it was never sent); its latency is the generator's, from the scheduled
arrival to the last byte of the response, so any lateness of the generator counts
against the server and is reported (``lateness_max_ms``). A failure is any request
without a 2xx: a socket error, a reset, a timeout, or a non-2xx status.

The same split from nginx's access log (:func:`nginx_stats`: ``$msec - $request_time``
is when nginx read a request, ``$request_time`` its time in nginx): the servers' side
of the wait without the generator's. The generator is one Python thread on the same 2
cores; while thousands of released responses come back it falls behind (about 0.1 s
at 500 req/s on a quiet machine, over a second when other work loads it), which the
client-side figures include: ``lateness_max_ms`` says how much.

No paced release: gatekeeper has no option to stagger a release (its only pacing,
``handoff_delay``, spaces out handoff redirects to a new release under ASGI), so every
held request is let go by the one PUBLISH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from typing import Any

import redis

from benchmarks.burst_stats import WINDOW_S, aggregate, burst_stats, nginx_stats
from benchmarks.config import Context
from benchmarks.nginx import Nginx
from benchmarks.reload_hosts import touch
from benchmarks.servers import BIN, ROOT, Server
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import free_port
from tools import openloop

__all__ = ["COMMAND", "RATES", "SERVERS", "run"]

SERVERS = ("gunicorn-gthread", "uvicorn")
RATES = (200.0, 500.0)
HOSTS = 2
WORKERS = 2
THREADS = 25
"""gthread threads per worker, as in the earlier measurement."""
COMMAND = ("sleep", "6")
MAX_HOLD = 30.0
"""Long enough that no held request times out: the hold is about 6 s."""
LEAD_S = 2.0
"""Seconds of traffic before the runner starts."""
AFTER_S = 4.0
"""Seconds of traffic after the release."""
NGINX_CONNECTIONS = 16384
"""nginx ``worker_connections``: 500 req/s held for 6 s is ~3,000 held requests, each a
client and an upstream connection in nginx (``benchmarks.nginx`` has 4096)."""
CLIENT_CONNECTIONS = 8000
"""The generator's connection cap, above what a round can hold open: a request that waits
for a connection in the client would be sent late and counted as arriving later."""
CLI = [sys.executable, "-m", "gatekeeper"]

_APPS = {
    "gunicorn-gthread": "benchmarks.apps.wsgi_hello:app",
    "uvicorn": "benchmarks.apps.asgi_hello:app",
}


# -- the servers -----------------------------------------------------------------------


class _Nginx(Nginx):
    """``benchmarks.nginx`` with room for thousands of held requests, and each request's
    end (``$msec``) and duration (``$request_time``) in its access log: the proxy's view
    of the wait, free of the load generator's own lateness."""

    def config(self) -> str:
        text = super().config()
        for old, new in (
            ("worker_connections 4096;", f"worker_connections {NGINX_CONNECTIONS};"),
            ('$request_uri";', '$request_uri\\t$msec\\t$request_time";'),
        ):
            if old not in text:
                raise RuntimeError(f"benchmarks.nginx's config has no {old!r} any more")
            text = text.replace(old, new)
        return text

    def timings(self, skip: int = 0) -> tuple[list[tuple[float, float, int]], int]:
        """``(start, seconds, status)`` per request logged after the first ``skip`` lines
        (``start`` epoch: when nginx read the request), and the number of lines now."""
        try:
            lines = self.access_log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return [], 0
        out = []
        for line in lines[skip:]:
            fields = line.split("\t")
            if len(fields) != 7:
                continue
            with suppress(ValueError):
                end, took = float(fields[5]), float(fields[6])
                out.append((end - took, took, int(fields[0])))
        return out, len(lines)


def _argv(kind: str, port: int) -> list[str]:
    app = _APPS[kind]
    if kind == "gunicorn-gthread":
        return [
            str(BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}",
            "--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS),
            "--backlog", "4096", "--timeout", "120", "--graceful-timeout", "3",
            "--log-level", "warning", "-c", "python:gatekeeper.contrib.gunicorn",
        ]  # fmt: skip
    return [
        str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(WORKERS), "--backlog", "4096", "--no-access-log",
        "--log-level", "warning", "--timeout-graceful-shutdown", "3",
    ]  # fmt: skip


def _hosts(ctx: Context, kind: str, prefix: str) -> list[Server]:
    out = []
    for index in range(HOSTS):
        port = free_port()
        env = ctx.env(prefix, GATEKEEPER_HOSTNAME=f"web-{index + 1}")
        out.append(Server(f"burst-{kind}-web-{index + 1}", _argv(kind, port), port, env))
    return out


def _live(client: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    return read_processes(client, keys)


def _wait_live(client: redis.Redis, keys: Keys, hosts: list[Server], timeout: float = 30) -> None:
    """Every worker of every host reports in (touched until it does)."""
    deadline = time.monotonic() + timeout
    want = HOSTS * WORKERS
    while time.monotonic() < deadline:
        for server in hosts:
            touch(server.port)
        reports = _live(client, keys)
        if len(reports) >= want:
            return
        time.sleep(0.05)
    raise RuntimeError(f"burst: {len(_live(client, keys))} of {want} gate processes reported in")


def _wait_settled(client: redis.Redis, keys: Keys, timeout: float = 15) -> None:
    """Every process reports ``open`` with nothing held: the previous round is over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reports = _live(client, keys)
        if reports and all(r.get("mode") == "open" and int(r.get("held", 0)) == 0 for r in reports):
            return
        time.sleep(0.1)


# -- one round -------------------------------------------------------------------------


def run_round(proxy: _Nginx, rate: float, env: dict[str, str]) -> dict[str, Any]:
    """Traffic through ``proxy``, a run-migration in the middle of it, and the round's
    figures, from the client's records and from nginx's log."""
    url = proxy.url + "/"
    _, logged = proxy.timings()
    run_id = f"b{os.getpid()}{time.monotonic_ns() % 10**6}"
    loop = openloop.start(
        url, rate, 3600, run_id=run_id, timeout=60.0, max_connections=CLIENT_CONNECTIONS
    )
    try:
        time.sleep(LEAD_S)
        argv = [
            *CLI, "run-migration", "--max-hold", f"{MAX_HOLD:g}",
            "--min-processes", str(HOSTS * WORKERS), "--json", "--", *COMMAND,
        ]  # fmt: skip
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        lines = done.stdout.strip().splitlines()
        summary = json.loads(lines[-1]) if lines else {}
        if done.returncode != 0 or not summary.get("released_at"):
            raise RuntimeError(
                f"run-migration exited {done.returncode}: {done.stderr.strip()[-600:]}"
            )
        time.sleep(max(0.0, float(summary["released_at"]) + AFTER_S - time.time()))
    finally:
        loop.stop()
    result = loop.result(120)
    hold_at = result.clock(float(summary["started_at"]))
    release_at = result.clock(float(summary["released_at"]))
    stats = burst_stats(result.records, hold_at, release_at)
    requests = summary.get("requests", {})
    # Requests the gate itself held: under gthread at most its threads, the rest waited
    # in gunicorn's queue.
    stats["gate_held"] = requests.get("held")
    stats["gate_released"] = requests.get("released")
    stats["runner_outcome"] = summary.get("outcome")
    stats["migrate_s"] = round(summary["migrate_ended_at"] - summary["migrate_started_at"], 4)
    stats["connections_opened"] = result.connections_opened
    time.sleep(0.2)  # nginx writes a request's line as it ends
    timings, _ = proxy.timings(logged)
    stats.update(nginx_stats(timings, float(summary["released_at"])))
    return stats


def run_scenario(ctx: Context, kind: str, rates: Sequence[float], rounds: int) -> dict[str, Any]:
    """One server: its two hosts and nginx, then ``rounds`` rounds at each rate."""
    prefix = ctx.prefix(f"burst-{kind}")
    keys = Keys(prefix)
    env = {**os.environ, **ctx.env(prefix), "PYTHONPATH": str(ROOT)}
    out: dict[str, Any] = {"server": kind, "rates": {}}
    with ExitStack() as stack:
        hosts = _hosts(ctx, kind, prefix)
        for server in hosts:
            stack.enter_context(server)
        _wait_live(ctx.client, keys, hosts)
        proxy = _Nginx([server.port for server in hosts])
        stack.enter_context(proxy)
        for rate in rates:
            per_round = []
            for number in range(rounds):
                _wait_settled(ctx.client, keys)
                time.sleep(1.0)  # the last round's connections idle out or are reused
                stats = run_round(proxy, rate, env)
                per_round.append(stats)
                ctx.log(
                    f"  {kind} @ {rate:g}/s round {number + 1}: {stats['failed']} failed, "
                    f"held {stats['held']} (gate {stats['gate_held']}), post-release p50/p99/"
                    f"max {_fmt(stats['post_p50_ms'])}/{_fmt(stats['post_p99_ms'])}/"
                    f"{_fmt(stats['post_max_ms'])} ms, drain {_fmt(stats['drain_ms'])} ms; "
                    f"in nginx p99 {_fmt(stats['nginx_post_p99_ms'])}, drain "
                    f"{_fmt(stats['nginx_drain_ms'])} ms; client late <= "
                    f"{_fmt(stats['lateness_max_ms'])} ms"
                )
            out["rates"][f"{rate:g}"] = {**aggregate(per_round), "per_round": per_round}
        timings, _ = proxy.timings()
        statuses = Counter(str(status) for _, _, status in timings)
        out["nginx_statuses"] = dict(sorted(statuses.items()))
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def run(ctx: Context) -> dict[str, Any]:
    """The ``burst`` section."""
    rounds = ctx.settings.burst_rounds
    ctx.log(
        f"burst: {', '.join(SERVERS)}; {HOSTS} hosts x {WORKERS} workers behind nginx; "
        f"{' and '.join(f'{r:g}' for r in RATES)} req/s; {rounds} round(s) each; "
        f"run-migration -- {' '.join(COMMAND)}"
    )
    return {
        "hosts": HOSTS,
        "workers": WORKERS,
        "gthread_threads": THREADS,
        "command": " ".join(COMMAND),
        "window_s": WINDOW_S,
        "lead_s": LEAD_S,
        "after_s": AFTER_S,
        "release_time": "run-migration --json released_at (time.time() after the write)",
        "paced_release": "none: gatekeeper has no option to pace a release",
        "servers": {kind: run_scenario(ctx, kind, RATES, rounds) for kind in SERVERS},
    }
