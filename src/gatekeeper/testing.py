"""A throwaway ``redis-server`` on a free loopback port, for tests, benchmarks and the demo.

::

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)

It runs the real ``redis-server`` binary (found on ``PATH`` or given), without
persistence, in a temporary directory, and stops it on exit. ``RedisServerMissing`` says
how to install one when the binary is absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "RedisServerMissing", "free_port"]


class RedisServerMissing(RuntimeError):
    pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1; restartable on the same port."""

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
        new_session: bool = False,
    ) -> None:
        found = binary or shutil.which("redis-server")
        if not found:
            raise RedisServerMissing(
                "redis-server not found on PATH: install it (Debian: apt-get install "
                "redis-server) or run scripts/test.sh, which does"
            )
        self.binary = found
        self.port = port or free_port()
        self.extra_args = extra_args
        # In its own session a terminal's Ctrl-C does not reach the server, so whoever
        # started it can still use it while shutting down (and then stop it).
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="gatekeeper-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir.name,
            "--protected-mode", "no",
            *self.extra_args,
        ]  # fmt: skip
        with Path(self._dir.name, "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=self.new_session
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):  # answering
                        return
            except OSError:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._dir.cleanup()
