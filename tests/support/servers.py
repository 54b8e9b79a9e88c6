"""Start real gunicorn / uvicorn processes for tests, and wait for them with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from gatekeeper.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Server:
    """A server process on 127.0.0.1:``port``; ``url`` is its base URL."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str], cwd: Path = ROOT) -> None:
        self.argv = argv
        self.port = port
        self.env = {**os.environ, **env, "PYTHONPATH": f"{ROOT}{os.pathsep}{cwd}"}
        self.cwd = cwd
        fd, self.log_path = tempfile.mkstemp(prefix="gk-server-", suffix=".log")
        os.close(fd)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.output()}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def output(self) -> str:
        return Path(self.log_path).read_text(errors="replace")[-4000:]

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
        Path(self.log_path).unlink(missing_ok=True)


def gunicorn(
    app: str,
    env: dict[str, str],
    workers: int = 2,
    threads: int = 16,
    cwd: Path = ROOT,
    hooks: bool = False,
) -> Server:
    """gunicorn gthread; ``hooks``: with ``-c python:gatekeeper.contrib.gunicorn``."""
    port = free_port()
    argv = [
        str(BIN / "gunicorn"), app,
        *(["-c", "python:gatekeeper.contrib.gunicorn"] if hooks else []),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--graceful-timeout", "5",
        "--log-level", "warning",
    ]  # fmt: skip
    return Server(argv, port, env, cwd)


def uvicorn(app: str, env: dict[str, str], workers: int = 1, cwd: Path = ROOT) -> Server:
    port = free_port()
    argv = [
        str(BIN / "uvicorn"), app,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
        "--log-level", "warning",
        "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip
    return Server(argv, port, env, cwd)
