"""While keep-alive is off, every server the gate runs under ends the connection after
the response, with ``Connection: close``; while it is on, connections are kept.

Each server is started for real on loopback, and probed with a raw socket: one request,
then a look at whether the server closed the connection (a clean FIN within 1 s).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.state.store import restore_keepalive, set_keepalive_off
from gatekeeper.testing import free_port
from tests.support.helpers import wait_for
from tests.support.servers import BIN, Server

pytestmark = pytest.mark.slow

WSGI, ASGI = "tests.support.apps.plain_wsgi:app", "tests.support.apps.plain_asgi:app"


def _gunicorn(worker: str, hooks: bool) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        extra = ["-c", "python:gatekeeper.contrib.gunicorn"] if hooks else []
        # --threads > 1 would turn a sync worker into gthread
        threads = ["--threads", "4"] if worker == "gthread" else []
        return [
            str(BIN / "gunicorn"), WSGI, "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--worker-class", worker, *threads, "--log-level", "warning", *extra,
        ]  # fmt: skip

    return argv


def _uvicorn(http: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            str(BIN / "uvicorn"), ASGI, "--port", str(port), "--http", http,
            "--log-level", "warning",
        ]  # fmt: skip

    return argv


def _granian(interface: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        app = WSGI if interface == "wsgi" else ASGI
        return [
            str(BIN / "granian"), "--interface", interface, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--log-level", "warning", app,
        ]  # fmt: skip

    return argv


def _waitress(port: int) -> list[str]:
    code = (
        "from gatekeeper.contrib.waitress import serve; "
        "from tests.support.apps.plain_wsgi import app; "
        f"serve(app, listen='127.0.0.1:{port}', threads=4)"
    )
    return [sys.executable, "-c", code]


def _hypercorn(port: int) -> list[str]:
    return [str(BIN / "hypercorn"), ASGI, "--bind", f"127.0.0.1:{port}", "--workers", "1"]


SERVERS: dict[str, tuple[Callable[[int], list[str]], bool]] = {
    # name: (argv for a port, whether it keeps connections alive at all)
    "gunicorn-sync": (_gunicorn("sync", hooks=True), False),
    "gunicorn-gthread": (_gunicorn("gthread", hooks=True), True),
    "waitress": (_waitress, True),
    "uvicorn-h11": (_uvicorn("h11"), True),
    "uvicorn-httptools": (_uvicorn("httptools"), True),
    "hypercorn": (_hypercorn, True),
    "granian-asgi": (_granian("asgi"), True),
    "granian-wsgi": (_granian("wsgi"), True),
}


@dataclass(frozen=True)
class Probe:
    status: str
    connection: list[str]
    closed: bool


def probe(port: int, path: str = "/") -> Probe:
    """One request on a fresh connection; then whether the server closed it within 1 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
        length = next((int(v) for k, v in headers if k.strip().lower() == "content-length"), 0)
        while len(body) < length and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        sock.settimeout(1.0)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
        connection = [v.strip().lower() for k, v in headers if k.strip().lower() == "connection"]
        return Probe(lines[0], connection, closed)


def _acknowledged(r: redis.Redis, keys: Keys, value: str) -> bool:
    reports = read_processes(r, keys)
    return bool(reports) and all(report.get("keepalive") == value for report in reports)


@pytest.mark.parametrize("name", list(SERVERS))
def test_keepalive_off_closes_connection_after_response_under_server(
    name: str, redis_url: str, prefix: str, keys: Keys, r: redis.Redis
) -> None:
    argv, keeps_alive = SERVERS[name]
    port = free_port()
    env = {"GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    with Server(argv(port), port, {**env, "GATEKEEPER_POLL_INTERVAL": "0.2"}) as server:
        before = probe(server.port)
        assert before.status.startswith("HTTP/1.1 200")
        assert before.closed is not keeps_alive, before  # the control: kept alive

        set_keepalive_off(r, keys, ttl=30)
        wait_for(lambda: _acknowledged(r, keys, "off"), timeout=5)
        for path in ("/", "/healthz"):
            during = probe(server.port, path)
            assert during.status.startswith("HTTP/1.1 200"), during
            assert during.connection == ["close"], (name, path, during)
            assert during.closed, (name, path, during)

        restore_keepalive(r, keys)
        wait_for(lambda: _acknowledged(r, keys, "on"), timeout=5)
        after = probe(server.port)
        assert after.closed is not keeps_alive, after
