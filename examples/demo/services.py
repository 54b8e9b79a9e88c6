"""What the demo starts, and always stops: Redis, the Django example under gunicorn, the
deploy commands (``manage.py gatekeeper run-migration`` and ``reload``).

Every child runs in its own session (:mod:`tools.procs` starts, waits for and stops
them), so a Ctrl-C in the terminal reaches only the demo, which then stops them in order
(deploy command, traffic, server, Redis) instead of leaving each to die on its own with
requests still in flight.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from gatekeeper._parsers import redact_url
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer, free_port
from tools.procs import (
    ServerProcess,
    StartFailed,
    http_ok,
    launch,
    poll_until,
    stop_process,
    tail,
)

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "django_app"
MANAGE = [sys.executable, str(APP_DIR / "manage.py")]
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
"""Per worker: plenty for 100 requests a second on 2 cores. More threads make the open's
burst worse on SQLite (hundreds of requests released at once; most likely the GIL keeps each
writer longer between its INSERT and its commit): with 16 threads, and now and then with
8, some writes waited longer than the example's 1 s busy timeout ("database is locked")."""
KEEPALIVE = 2
"""gunicorn's keep-alive timeout (its default): ``reload --close-for`` must not be shorter."""
FIRST_RELEASE = "v1"


class DemoError(RuntimeError):
    """A step of the demo could not run; the message says which and why."""


@dataclass(frozen=True)
class RedisChoice:
    url: str
    description: str


@contextlib.contextmanager
def demo_redis(prefix: str) -> Iterator[RedisChoice]:
    """The Redis at GATEKEEPER_REDIS_URL if it answers, else a throwaway redis-server."""
    url = os.environ.get("GATEKEEPER_REDIS_URL", "")
    reason = "GATEKEEPER_REDIS_URL not set"
    if url:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            client.ping()
            client.close()
            reason = ""
        except (redis.RedisError, ValueError) as exc:
            reason = f"GATEKEEPER_REDIS_URL did not answer: {type(exc).__name__}"
    if not reason:
        try:
            yield RedisChoice(url, f"{redact_url(url)} (GATEKEEPER_REDIS_URL), keys {prefix}:*")
        finally:
            _forget(url, prefix)  # somebody else's Redis: leave nothing of ours behind
        return
    # In a session of its own: a Ctrl-C in the terminal must not stop it before the
    # runner has released the gate through it.
    with RedisServer(new_session=True) as server:
        yield RedisChoice(server.url, f"throwaway redis-server on {server.url} ({reason})")


def _forget(url: str, prefix: str) -> None:
    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(url) as client:
        names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if names:
            client.delete(*names)


class DjangoExample:
    """examples/django_app on a fresh SQLite database in ``workdir``, gated through
    ``redis_url`` under ``prefix``, its release read from ``workdir/RELEASE``."""

    def __init__(self, workdir: Path, redis_url: str, prefix: str, seed_rows: int) -> None:
        self.database = workdir / "notes.sqlite3"
        self.release_file = workdir / "RELEASE"
        self.workdir = workdir
        self.seed_rows = seed_rows
        self.redis_url, self.keys = redis_url, Keys(prefix)
        # The caller's own GATEKEEPER_*/DJANGO_* settings would change what the demo
        # shows (a bypass secret, another prefix): start from none of them.
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GATEKEEPER_", "DJANGO_", "NOTES_", "DATABASE_URL"))
        }
        self.env = {
            **inherited,
            "DATABASE_URL": f"sqlite:///{self.database}",
            "NOTES_SEED_ROWS": str(seed_rows),
            # Read by settings.py at import: a HUP'd gunicorn's new workers see the new one.
            "NOTES_RELEASE_FILE": str(self.release_file),
            "GATEKEEPER_REDIS_URL": redis_url,
            "GATEKEEPER_PREFIX": prefix,
            # Room for a slow machine: a request may wait this long (the runner's
            # --max-hold is the same), where the hold takes 2.5 to 5 s here.
            "GATEKEEPER_HOLD_TIMEOUT": "30",
        }
        self.port = free_port()
        self.master_pid = 0

    def manage(self, *args: str) -> None:
        done = subprocess.run(
            [*MANAGE, *args], cwd=APP_DIR, env=self.env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise DemoError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def prepare(self) -> None:
        """Seed the notes and apply all but the last migration: a deploy is pending."""
        self.release_file.write_text(FIRST_RELEASE + "\n")
        self.manage("migrate", "notes", "0001")

    def restart_argv(self, release: str) -> list[str]:
        """What a deploy of new code does here: write the release, HUP gunicorn's master
        (it starts new workers, which read the file, and retires the old ones). Run in
        the work directory, where the gatekeeper commands run."""
        write = f"echo {shlex.quote(release)} > {self.release_file.name}"
        return ["sh", "-c", f"{write} && kill -HUP {self.master_pid}"]

    @property
    def log_path(self) -> Path:
        return self.workdir / "gunicorn.log"

    def log_tail(self, lines: int = 30) -> list[str]:
        """The end of gunicorn's log (a 500's traceback is there)."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return []

    @contextlib.contextmanager
    def serve(self) -> Iterator[None]:
        log_path = self.log_path
        argv = [
            sys.executable, "-m", "gunicorn", "example_project.wsgi",
            # gatekeeper's hooks: a new worker reports in at boot (what --await-release
            # waits for), and keep-alive off closes connections under gthread.
            "-c", "python:gatekeeper.contrib.gunicorn",
            "--bind", f"127.0.0.1:{self.port}", "--keep-alive", str(KEEPALIVE),
            "--workers", str(GUNICORN_WORKERS),
            "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS),
            "--graceful-timeout", "5", "--log-level", "warning",
        ]  # fmt: skip
        server = ServerProcess(
            argv, self.port, name="gunicorn", env=self.env, cwd=APP_DIR, log_path=log_path,
            ready=lambda: http_ok(self.port), start_timeout=30.0, stop_timeout=20.0,
        )  # fmt: skip
        try:
            server.start()
        except StartFailed as exc:
            raise DemoError(f"gunicorn did not start: {exc}") from None
        assert server.process is not None
        self.master_pid = server.process.pid
        try:
            self._wait_reported(GUNICORN_WORKERS, log_path)
            yield
        finally:
            server.stop()

    def _wait_reported(self, workers: int, log_path: Path) -> None:
        """Until every worker reports to the gate: the runner waits for the new release
        on the hosts it sees then."""
        with redis.Redis.from_url(self.redis_url) as client:
            reported = poll_until(
                lambda: len(read_processes(client, self.keys)) >= workers, 30, interval=0.05
            )
        if not reported:
            raise DemoError(f"gunicorn's workers did not report to the gate:\n{tail(log_path)}")

    @contextlib.contextmanager
    def gatekeeper(self, args: Sequence[str], on_line: Callable[[str], None]) -> Iterator[Command]:
        """``manage.py gatekeeper ARGS`` under way, in the work directory; its stderr (the
        phases) goes to ``on_line`` as it comes, each line stamped with when it came, its
        stdout (a command's own output, then the JSON summary) to a file there."""
        out_path = self.workdir / f"{args[0]}.out"
        process = launch(
            [*MANAGE, "gatekeeper", *args], out_path, cwd=self.workdir, env=self.env,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        stderr = process.stderr
        stamps: list[tuple[float, str]] = []
        stopping = threading.Event()

        def relay() -> None:
            for raw in stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                stamps.append((time.time(), line))
                # Once the demo stops the command, migrate's KeyboardInterrupt traceback
                # says nothing new: pass on only gatekeeper's own lines.
                if not stopping.is_set() or line.startswith("gatekeeper:"):
                    on_line(line)

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        try:
            yield Command(process, reader, out_path, stamps)
        finally:
            # SIGINT, as a terminal would send: the runner stops migrate and still releases
            # the gate (its failure policy), a reload turns keep-alive back on.
            if process.poll() is None:
                stopping.set()
            stop_process(process, (signal.SIGINT,), 20.0)
            reader.join(5)
            stderr.close()

    def notes_with(self, prefix: str) -> Counter[str]:
        """How many notes have each text that starts with ``prefix``."""
        with contextlib.closing(sqlite3.connect(self.database)) as connection:
            rows = connection.execute(
                "SELECT text, COUNT(*) FROM notes_note WHERE substr(text, 1, ?) = ? GROUP BY text",
                (len(prefix), prefix),
            ).fetchall()
        return Counter({str(text): int(count) for text, count in rows})


@dataclass(frozen=True)
class Command:
    """A ``manage.py gatekeeper`` command under way."""

    process: subprocess.Popen[bytes]
    reader: threading.Thread
    out_path: Path
    stamps: list[tuple[float, str]]
    """Each stderr line with the epoch time it came."""

    def wait(self) -> None:
        """Until it has exited and its last lines are in."""
        self.process.wait()
        self.reader.join(5)

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")
