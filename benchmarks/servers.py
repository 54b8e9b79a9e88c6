"""Start gunicorn and uvicorn on free loopback ports, find their workers, read their RSS.

Each server runs in its own session (process group) so that stopping it takes its
workers along, logs to a temporary file (shown when it fails to start), and is ready
when ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from gatekeeper.testing import free_port

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


class Server:
    """A server process on 127.0.0.1:``port``."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        fd, path = tempfile.mkstemp(prefix="gk-bench-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.output()}")
            try:
                if http_get(self.port, "/healthz", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout}s:\n{self.output()}")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the workers, or the server itself."""
        assert self.process is not None
        return children(self.process.pid) or [self.process.pid]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


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
