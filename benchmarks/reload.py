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

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis

from benchmarks.config import Context
from benchmarks.nginx import Nginx
from benchmarks.servers import BIN, ROOT, Server, http_get
from benchmarks.wrk import WrkResult, parse_wrk_output, start_wrk
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import free_port
from tools import openloop

__all__ = ["SERVERS", "Outcome", "Scenario", "run_scenario"]

ServerKind = Literal[
    "gunicorn-gthread", "gunicorn-sync", "gunicorn-uvicorn", "uvicorn", "hypercorn", "granian"
]
WORKERS = 2
WSGI, ASGI = "tests.support.apps.journal:wsgi_app", "tests.support.apps.journal:asgi_app"


_GUNICORN_WORKER = {
    "gunicorn-gthread": ["--worker-class", "gthread", "--threads", "8"],
    "gunicorn-sync": [],
    "gunicorn-uvicorn": ["--worker-class", "uvicorn.workers.UvicornWorker"],
}


def _argv(kind: ServerKind, port: int) -> list[str]:
    if kind.startswith("gunicorn"):
        worker = _GUNICORN_WORKER[kind]
        return [
            str(BIN / "gunicorn"), ASGI if kind == "gunicorn-uvicorn" else WSGI,
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(WORKERS), *worker, "--log-level", "warning",
            "-c", "python:gatekeeper.contrib.gunicorn",
        ]  # fmt: skip
    if kind == "uvicorn":
        return [
            str(BIN / "uvicorn"), ASGI, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(WORKERS), "--timeout-graceful-shutdown", "10",
            "--log-level", "warning",
        ]  # fmt: skip
    if kind == "hypercorn":
        return [
            str(BIN / "hypercorn"), ASGI, "--bind", f"127.0.0.1:{port}",
            "--workers", str(WORKERS),
        ]  # fmt: skip
    return [
        str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(WORKERS), "--log-level", "warning", ASGI,
    ]  # fmt: skip


RECOMMENDED = "max_fails=0"
"""The README's upstream server parameters (see "Behind nginx, several hosts")."""

SERVERS: tuple[ServerKind, ...] = (
    "gunicorn-gthread", "gunicorn-sync", "gunicorn-uvicorn", "uvicorn", "hypercorn", "granian"
)  # fmt: skip


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


class _Hosts:
    """The app hosts of one scenario on one Redis, each with its own host name."""

    def __init__(self, kind: ServerKind, count: int, redis_url: str, prefix: str) -> None:
        self.kind, self.redis_url, self.prefix = kind, redis_url, prefix
        self.keys = Keys(prefix)
        self.journal = Path(tempfile.mkstemp(prefix="gk-journal-", suffix=".log")[1])
        self.names = [f"web-{index + 1}" for index in range(count)]
        self.servers: dict[str, Server] = {}
        for name in self.names:
            port = free_port()
            env = {
                "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix,
                "GATEKEEPER_HOSTNAME": name, "JOURNAL_PATH": str(self.journal),
            }  # fmt: skip
            self.servers[name] = Server(name, _argv(kind, port), port, env)

    def start(self, stack: ExitStack) -> None:
        for server in self.servers.values():
            stack.enter_context(server)
        stack.callback(self.journal.unlink, missing_ok=True)
        # Every worker starts its watcher on its first request: make each report in.
        self._wait(lambda live: all(len(live.get(n, [])) == WORKERS for n in self.names), 30)

    def live(self) -> dict[str, list[str]]:
        client = redis.Redis.from_url(self.redis_url)
        try:
            reports = read_processes(client, self.keys)
        finally:
            client.close()
        found: dict[str, list[str]] = {}
        for report in reports:
            found.setdefault(str(report.get("host")), []).append(str(report["id"]))
        return found

    def _wait(self, done: Callable[[dict[str, list[str]]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for server in self.servers.values():
                touch(server.port)
            if done(self.live()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind}: workers did not report in: {self.live()}")

    def reload(self, name: str, gated: bool, close_for: float | None) -> float:
        server = self.servers[name]
        assert server.process is not None
        command = ["kill", "-HUP", str(server.process.pid)]
        began = time.monotonic()
        if gated:
            extra = ["--close-for", f"{close_for:g}"] if close_for is not None else []
            env = {
                **os.environ, "GATEKEEPER_REDIS_URL": self.redis_url,
                "GATEKEEPER_PREFIX": self.prefix, "PYTHONPATH": str(ROOT),
            }  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-m", "gatekeeper", "reload", "--host", name, *extra,
                 "--timeout", "60", "--", *command],
                env=env, capture_output=True, text=True, timeout=180, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"gatekeeper reload exited {done.returncode}:\n{done.stderr}")
        else:
            old = set(self.live().get(name, []))
            subprocess.run(command, check=True)
            # What an operator's script would wait for: the old workers gone, new ones in.
            self._wait(
                lambda live: (
                    not old & set(live.get(name, [])) and len(live.get(name, [])) == WORKERS
                ),
                60,
            )
        return round(time.monotonic() - began, 2)


def touch(port: int) -> None:
    """One request on a fresh connection, so a worker that has not served yet reports."""
    with suppress(OSError, http.client.HTTPException):
        http_get(port, "/healthz")


def run_scenario(scenario: Scenario, redis_url: str, prefix: str) -> Outcome:
    """Serve, load, reload every host ``rounds`` times, and count what clients saw."""
    outcome = Outcome(scenario=asdict(scenario))
    hosts = _Hosts(scenario.server, 2 if scenario.via == "nginx" else 1, redis_url, prefix)
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
