"""Start real gunicorn / uvicorn processes for tests, and wait for them with a deadline.

The start/wait/stop logic is :class:`tools.procs.ServerProcess`; this adds what the
tests' servers share: the repository (and the app's directory) on ``PYTHONPATH``, and
ready meaning ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tools.procs import ServerProcess, free_port, http_ok

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Server(ServerProcess):
    """A server process on 127.0.0.1:``port``; ``url`` is its base URL."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str], cwd: Path = ROOT) -> None:
        super().__init__(
            argv,
            port,
            env={**os.environ, **env, "PYTHONPATH": f"{ROOT}{os.pathsep}{cwd}"},
            cwd=cwd,
            ready=lambda: http_ok(port, timeout=0.5),
            start_timeout=20.0,
            # gunicorn's --graceful-timeout is 5 s: room for it, then SIGKILL.
            stop_timeout=15.0,
        )


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
