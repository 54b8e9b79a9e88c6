"""Code-only deploys: socket errors and non-2xx per graceful reload, per server, direct
and through nginx, with and without ``gatekeeper reload``.

One scenario: one or two "hosts" (each its own server master with 2 workers, the gate in
the app, all on one Redis, each reporting its own ``hostname``), nginx in front of both
when ``via="nginx"`` (Debian's, ``keepalive 32``, default ``max_fails``), traffic from wrk
(``-t2 -c32``: like many API clients it never resends a request lost on a kept-alive
connection) or from the open-loop generator (``rate`` req/s, 3 GET : 1 POST, never
resends), and ``rounds`` reloads of every host one after the other: ``kill -HUP
<master>`` alone (then waiting until every old worker has left the registry), or the
same command under ``gatekeeper reload --host <host>``. The app journals each request;
every POST answered 2xx must be in the journal exactly once.

``python -m benchmarks.reload`` runs the matrix and prints the README's table;
``python -m benchmarks --only reload`` runs it as a section of the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from benchmarks.config import Context
from benchmarks.nginx import Nginx
from benchmarks.reload_hosts import SERVERS, Hosts, ServerKind
from benchmarks.servers import ROOT
from benchmarks.wrk import WrkResult, parse_wrk_output, start_wrk
from tools import openloop

__all__ = ["SERVERS", "Outcome", "Scenario", "run_scenario"]

RECOMMENDED = "max_fails=0"
"""The README's upstream server parameters (see "Behind nginx, several hosts")."""


@dataclass(frozen=True)
class Scenario:
    server: ServerKind
    via: Literal["direct", "nginx"] = "direct"
    gated: bool = True
    load: Literal["wrk", "openloop"] = "wrk"
    rounds: int = 3
    rate: float = 200.0
    nginx_server_params: str = ""
    close_for: float | None = None
    """``--close-for`` (``None``: the command's default)."""
    wrk_method: Literal["GET", "POST"] = "GET"
    """POST: nginx retries no POST on another upstream once it was sent, unlike a GET."""

    @property
    def label(self) -> str:
        how = "gatekeeper reload" if self.gated else "kill -HUP"
        via = f"nginx {self.nginx_server_params}".strip() if self.via == "nginx" else "direct"
        load = f"wrk {self.wrk_method}" if self.load == "wrk" else "open loop"
        return f"{self.server} | {via} | {load} | {how}"


@dataclass
class Outcome:
    scenario: dict[str, Any]
    reloads: int = 0
    requests: int = 0
    socket_errors: int = 0
    non_2xx: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    """Open-loop requests with no response, by kind (reset, eof, timeout, connect)."""
    journal_duplicates: int = 0
    journal_missing: int = 0
    """POSTs answered 2xx that the app never journaled."""
    nginx_502: int = 0
    reload_seconds: list[float] = field(default_factory=list)
    wrk: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.socket_errors + self.non_2xx

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}


def run_scenario(scenario: Scenario, redis_url: str, prefix: str) -> Outcome:
    """Serve, load, reload every host ``rounds`` times, and count what clients saw."""
    outcome = Outcome(scenario=asdict(scenario))
    hosts = Hosts(scenario.server, 2 if scenario.via == "nginx" else 1, redis_url, prefix)
    with ExitStack() as stack:
        hosts.start(stack)
        url = hosts.servers[hosts.names[0]].url.rstrip("/")
        proxy: Nginx | None = None
        if scenario.via == "nginx":
            ports = [server.port for server in hosts.servers.values()]
            proxy = Nginx(ports, server_params=scenario.nginx_server_params)
            stack.enter_context(proxy)
            url = proxy.url
        if scenario.load == "wrk":
            script = _post_script(stack) if scenario.wrk_method == "POST" else None
            wrk = start_wrk(
                url + "/", 3600, threads=2, connections=32, latency=False, script=script
            )
            stack.callback(_interrupt, wrk.process)
        else:
            run_id = f"r{os.getpid()}{time.monotonic_ns() % 10**6}"
            loop = openloop.start(
                url + "/", scenario.rate, 3600, run_id=run_id, path_read="/read",
                path_write="/write", timeout=30.0,
            )  # fmt: skip
            stack.callback(loop.stop)
        time.sleep(1.0)  # steady traffic before the first reload: the baseline period
        for _ in range(scenario.rounds):
            for name in hosts.names:
                took = hosts.reload(name, scenario.gated, scenario.close_for)
                outcome.reload_seconds.append(took)
                outcome.reloads += 1
        time.sleep(1.0)  # and after the last: late failures count too
        if scenario.load == "wrk":
            _count_wrk(outcome, _interrupt(wrk.process))
        else:
            loop.stop()
            _count_openloop(outcome, loop.result(60), hosts.journal)
        if proxy is not None:
            outcome.nginx_502 = proxy.access_statuses().get(502, 0)
    return outcome


def _post_script(stack: ExitStack) -> str:
    fd, path = tempfile.mkstemp(prefix="gk-wrk-", suffix=".lua")
    with os.fdopen(fd, "w") as script:
        script.write(
            'wrk.method = "POST"\nwrk.body = "{}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    stack.callback(os.unlink, path)
    return path


def _interrupt(process: subprocess.Popen[str]) -> WrkResult:
    """End wrk now: on SIGINT it stops and prints its summary as at the end of a run."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=30)
    return parse_wrk_output(stdout)


def _count_wrk(outcome: Outcome, result: WrkResult) -> None:
    outcome.requests = result.requests
    outcome.socket_errors = result.socket_errors
    outcome.non_2xx = result.non2xx
    outcome.wrk = {
        "connect": result.connect_errors, "read": result.read_errors,
        "write": result.write_errors, "timeout": result.timeouts, "rps": result.rps,
    }  # fmt: skip


def _count_openloop(outcome: Outcome, result: openloop.Result, journal: Path) -> None:
    records = result.records
    outcome.requests = len(records)
    statuses = Counter(str(record.status) for record in records)
    outcome.statuses = dict(sorted(statuses.items()))
    outcome.failures = dict(Counter(record.error for record in records if record.error))
    outcome.socket_errors = sum(outcome.failures.values())
    outcome.non_2xx = sum(
        1 for record in records if not record.error and not 200 <= record.status < 300
    )
    seen = Counter(line.split(" ", 1)[0] for line in journal.read_text().splitlines())
    answered = [
        record.request_id for record in records
        if record.method == "POST" and record.request_id and 200 <= record.status < 300
    ]  # fmt: skip
    outcome.journal_missing = sum(1 for rid in answered if seen[rid] == 0)
    outcome.journal_duplicates = sum(
        1 for record in records if record.request_id and seen[record.request_id] > 1
    )


def matrix(rounds: int = 3) -> list[Scenario]:
    """The README's table: every server direct, with and without; through nginx, without
    (nginx as Debian ships it) and with, both with its defaults and as recommended."""
    scenarios: list[Scenario] = []
    for server in SERVERS:
        scenarios += [
            Scenario(server, "direct", False, "wrk", rounds),
            Scenario(server, "direct", True, "wrk", rounds),
            Scenario(server, "nginx", False, "wrk", rounds),
            Scenario(server, "nginx", True, "wrk", rounds),
            Scenario(server, "nginx", False, "wrk", rounds, nginx_server_params=RECOMMENDED),
            Scenario(server, "nginx", True, "wrk", rounds, nginx_server_params=RECOMMENDED),
        ]
    for gated in (False, True):
        scenarios.append(
            Scenario("uvicorn", "nginx", gated, "wrk", rounds, nginx_server_params=RECOMMENDED,
                     wrk_method="POST")
        )  # fmt: skip
    scenarios += [
        Scenario("uvicorn", "nginx", False, "openloop", rounds),
        Scenario("uvicorn", "nginx", True, "openloop", rounds, nginx_server_params=RECOMMENDED),
        Scenario("gunicorn-gthread", "nginx", True, "openloop", rounds,
                 nginx_server_params=RECOMMENDED),
    ]  # fmt: skip
    return scenarios


def run(ctx: Context) -> list[dict[str, Any]]:
    """The ``reload`` section of ``python -m benchmarks`` (opt-in: about 20 minutes)."""
    rounds = 1 if ctx.settings.name == "quick" else 3
    results = []
    for scenario in matrix(rounds):
        outcome = run_scenario(scenario, ctx.redis_server.url, ctx.prefix("reload"))
        ctx.log(_row(scenario, outcome))
        results.append(outcome.as_dict())
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    from gatekeeper.testing import RedisServer

    parser = argparse.ArgumentParser(prog="python -m benchmarks.reload", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated servers")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/reload.json")
    args = parser.parse_args(argv)
    wanted = {name for name in args.only.split(",") if name}
    results = []
    with RedisServer() as server:
        for index, scenario in enumerate(matrix(args.rounds)):
            if wanted and scenario.server not in wanted:
                continue
            outcome = run_scenario(scenario, server.url, f"bench{index}")
            results.append(outcome.as_dict())
            print(_row(scenario, outcome), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _row(scenario: Scenario, outcome: Outcome) -> str:
    per = outcome.failed / max(1, outcome.reloads)
    extra = f", nginx 502: {outcome.nginx_502}" if scenario.via == "nginx" else ""
    if scenario.load == "openloop":
        extra += f", journal dup/missing {outcome.journal_duplicates}/{outcome.journal_missing}"
    return (
        f"| {scenario.label} | {outcome.reloads} | {outcome.requests} | "
        f"{outcome.socket_errors} / {outcome.non_2xx} | {per:.1f}{extra} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
