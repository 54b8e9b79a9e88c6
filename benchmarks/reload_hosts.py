"""The app hosts of a reload scenario: one server master per host, 2 workers, the gate in
the app (``tests/support/apps/journal.py``), all on one Redis, each reporting its own
``hostname``; reloaded by ``kill -HUP`` alone or under ``gatekeeper reload --host``."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Literal

import redis

from benchmarks.servers import BIN, ROOT, Server, http_get
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import free_port

__all__ = ["SERVERS", "WORKERS", "Hosts", "ServerKind", "touch"]

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


SERVERS: tuple[ServerKind, ...] = (
    "gunicorn-gthread", "gunicorn-sync", "gunicorn-uvicorn", "uvicorn", "hypercorn", "granian"
)  # fmt: skip


class Hosts:
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
