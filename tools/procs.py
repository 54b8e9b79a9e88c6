"""Start, wait for and stop the server processes that tests, benchmarks and the demo run.

One way for all of them.

* :func:`launch` starts a child in a session of its own, stdin from ``/dev/null`` and
  output appended to a log file (whose tail goes into any error about it);
* :func:`wait_ready` polls a check (:func:`port_accepts`, :func:`http_ok` or any
  predicate) until it passes, the child exits, or a deadline passes: never a bare sleep;
* :func:`stop_process` sends a graceful signal, waits with a deadline, then SIGKILLs the
  child's whole process group, so workers go with their master;
* :class:`Managed` gives ``with thing:`` (start, then stop and close) once, and
  :class:`ServerProcess` is all of the above for one server on 127.0.0.1.

Not shipped. ``gatekeeper.testing`` is public and must not import this, so its
``RedisServer`` keeps its own loop; this module borrows its ``free_port`` instead.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from gatekeeper.testing import free_port

__all__ = [
    "LOOPBACK", "Managed", "ServerProcess", "StartFailed", "free_port", "http_ok", "launch",
    "poll_until", "port_accepts", "stop_process", "tail", "wait_ready",
]  # fmt: skip

LOOPBACK = "127.0.0.1"
KILL_WAIT = 5.0  # seconds for a SIGKILLed process to be reaped

ManagedT = TypeVar("ManagedT", bound="Managed")


class StartFailed(RuntimeError):
    """A process exited before it was ready, or was not ready in time."""


def poll_until(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Call ``check`` until it returns true (then True) or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
    return True


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(port: int, path: str = "/healthz", timeout: float = 1.0, host: str = LOOPBACK) -> bool:
    """Whether ``GET path`` on a fresh connection answers 200 right now."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def tail(path: Path | None, chars: int = 4000) -> str:
    """The end of a log file, for error messages; never raises."""
    if path is None:
        return "(no log)"
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def launch(
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stderr: int = subprocess.STDOUT,
    new_session: bool = True,
    user: int | None = None,
    group: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its stdout appended to ``log`` (stderr too, unless ``stderr``
    says otherwise, say ``subprocess.PIPE``), as ``user``/``group`` if given.

    In a session of its own (``new_session``), a stop can signal the child's whole group
    and a terminal's Ctrl-C does not reach it before whoever started it is done with it.
    Stdin is ``/dev/null``: a child in another session must never wait on the terminal.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=stderr, cwd=cwd,
            env=None if env is None else dict(env), start_new_session=new_session,
            # Dropping to another user must drop root's supplementary groups too.
            user=user, group=group, extra_groups=None if user is None else [],
        )  # fmt: skip


def wait_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    *,
    name: str = "process",
    details: Callable[[], str] | None = None,
    interval: float = 0.02,
) -> None:
    """Poll ``ready`` until it passes; :class:`StartFailed` if ``process`` exits first or
    ``timeout`` s pass, its message ending with ``details()`` (the log's tail, say)."""
    more = details or (lambda: "")

    def check() -> bool:
        if process.poll() is not None:
            raise StartFailed(f"{name} exited with {process.returncode}:\n{more()}")
        return ready()

    if not poll_until(check, timeout, interval):
        raise StartFailed(f"{name} was not ready within {timeout:.1f}s:\n{more()}")


def _send(pid: int, signum: int, *, group: bool) -> None:
    # The process (or its group) may be gone between poll() and here.
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def stop_process(
    process: subprocess.Popen[bytes] | None,
    signals: Sequence[int] = (signal.SIGTERM,),
    timeout: float = 10.0,
    *,
    group: bool = True,
) -> None:
    """Send each of ``signals`` in turn, waiting up to ``timeout`` s after each, then
    SIGKILL; a no-op for ``None`` or a process that has already exited.

    ``group``: the graceful signals go to the whole process group (every worker gets
    them too) rather than to the process alone (nginx and postgres stop their own
    workers). SIGKILL always goes to the group of a process that leads one, so nothing
    it started survives it; never to a group the process merely shares (ours).
    """
    if process is None or process.poll() is not None:
        return
    try:
        leader = os.getpgid(process.pid) == process.pid
    except ProcessLookupError:  # exited since poll(): nothing of it left to signal
        return
    for signum in signals:
        _send(process.pid, signum, group=group and leader)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    _send(process.pid, signal.SIGKILL, group=leader)
    process.wait(KILL_WAIT)


class Managed(ABC):
    """``with thing:`` is ``thing.start()``, then ``stop()`` and ``close()`` on every way
    out; a ``start()`` that raises is closed at once (``stop()`` is its own business)."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - a hook: most things hold nothing once stopped
        """Free what a stopped thing still holds (its log, its directory)."""

    def __enter__(self: ManagedT) -> ManagedT:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self.close()


class ServerProcess(Managed):
    """A server started from ``argv`` that listens on 127.0.0.1:``port``.

    Ready when ``ready()`` passes (default: the port accepts a connection) within
    ``start_timeout`` s; stopped with ``stop_signals`` (to its group when
    ``group_signals``), ``stop_timeout`` s after each, then SIGKILL. Its output goes to
    ``log_path``: a temporary file removed by ``close()`` unless one is given. ``argv``,
    ``env`` and ``cwd`` are read at each ``start()``, so they may be changed before it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        name: str = "server",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_path: Path | None = None,
        ready: Callable[[], bool] | None = None,
        start_timeout: float = 20.0,
        stop_signals: Sequence[int] = (signal.SIGTERM,),
        stop_timeout: float = 10.0,
        group_signals: bool = True,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.name = name
        self.env: dict[str, str] | None = None if env is None else dict(env)
        self.cwd = cwd
        self._owns_log = log_path is None
        if log_path is None:
            safe = name.replace(os.sep, "-")
            fd, path = tempfile.mkstemp(prefix=f"gk-{safe}-", suffix=".log")
            os.close(fd)
            log_path = Path(path)
        self.log_path = log_path
        self._ready = ready
        self.start_timeout = start_timeout
        self.stop_signals = tuple(stop_signals)
        self.stop_timeout = stop_timeout
        self.group_signals = group_signals
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def is_ready(self) -> bool:
        return self._ready() if self._ready is not None else port_accepts(self.port)

    def start(self, timeout: float | None = None) -> None:
        """Start it and wait until it is ready; :class:`StartFailed` (it is stopped) if not."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.name} is already running")
        self.process = launch(self.argv, self.log_path, cwd=self.cwd, env=self.env)
        wait = self.start_timeout if timeout is None else timeout
        where = f"{self.name} on {LOOPBACK}:{self.port}"
        try:
            wait_ready(self.process, self.is_ready, wait, name=where, details=self.output)
        except BaseException:
            self.stop()
            raise

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the first process alone (say SIGHUP to gunicorn's master)."""
        assert self.process is not None, f"{self.name} is not running"
        os.kill(self.process.pid, signum)

    def stop(self, timeout: float | None = None) -> None:
        """Stop it (see the class docstring); harmless when it is not running."""
        process, self.process = self.process, None
        wait = self.stop_timeout if timeout is None else timeout
        stop_process(process, self.stop_signals, wait, group=self.group_signals)

    def output(self) -> str:
        """The tail of what it printed, for failure messages."""
        return tail(self.log_path)

    def close(self) -> None:
        if self._owns_log:
            self.log_path.unlink(missing_ok=True)
