"""Start gunicorn and uvicorn on free loopback ports, find their workers, read their RSS.

The start/wait/stop logic is :class:`tools.procs.ServerProcess` (own session, so a
stop takes the workers along; a temporary log, shown when a server fails to start);
here a server is ready when ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import http.client
import os
import sys
from pathlib import Path

from tools.procs import ServerProcess, free_port, http_ok

__all__ = ["ROOT", "Server", "cpu_seconds", "gunicorn", "rss_bytes", "uvicorn"]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def http_get(port: int, path: str = "/", timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET on a fresh connection: ``(status, body)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (all their threads), from ``/proc/<pid>/stat``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (scans ``/proc``)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class Server(ServerProcess):
    """A server process on 127.0.0.1:``port``, named for its log and its errors."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str]) -> None:
        super().__init__(
            argv,
            port,
            name=name,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            ready=lambda: http_ok(port),
            start_timeout=30.0,
            stop_timeout=10.0,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the workers, or the server itself."""
        assert self.process is not None
        return children(self.process.pid) or [self.process.pid]


def gunicorn(
    name: str, app: str, env: dict[str, str], workers: int = 2, threads: int = 0
) -> Server:
    """gunicorn with sync workers, or gthread workers when ``threads`` is given."""
    port = free_port()
    kind = ["--worker-class", "gthread", "--threads", str(threads)] if threads else []
    argv = [
        str(BIN / "gunicorn"), app,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        *(kind or ["--worker-class", "sync"]),
        "--backlog", "4096",
        "--timeout", "120",
        "--graceful-timeout", "3",
        "--log-level", "warning",
    ]  # fmt: skip
    return Server(name, argv, port, env)


def uvicorn(
    name: str, app: str, env: dict[str, str], workers: int = 1, extra: tuple[str, ...] = ()
) -> Server:
    """uvicorn with its default loop and HTTP implementation (``auto``)."""
    port = free_port()
    argv = [
        str(BIN / "uvicorn"), app,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
        "--backlog", "4096",
        "--no-access-log",
        "--log-level", "warning",
        "--timeout-graceful-shutdown", "3",
        *extra,
    ]  # fmt: skip
    return Server(name, argv, port, env)
