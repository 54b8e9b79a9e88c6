"""What the demo starts, and always stops: Redis, the Django example under gunicorn, the
runner.

Every child runs in its own session, so a Ctrl-C in the terminal reaches only the demo,
which then stops them in order (runner, traffic, server, Redis) instead of leaving each
to die on its own with requests still in flight.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from gatekeeper.option_parsers import redact_url
from gatekeeper.testing import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "django_app"
MANAGE = [sys.executable, str(APP_DIR / "manage.py")]
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 16


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


def stop_group(process: subprocess.Popen[bytes] | subprocess.Popen[str], first: int) -> None:
    """Signal a child's process group with ``first``, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


class DjangoExample:
    """examples/django_app on a fresh SQLite database in ``workdir``, gated through
    ``redis_url`` under ``prefix``."""

    def __init__(self, workdir: Path, redis_url: str, prefix: str, seed_rows: int) -> None:
        self.database = workdir / "notes.sqlite3"
        self.workdir = workdir
        self.seed_rows = seed_rows
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
            "GATEKEEPER_REDIS_URL": redis_url,
            "GATEKEEPER_PREFIX": prefix,
        }
        self.port = free_port()

    def manage(self, *args: str) -> None:
        done = subprocess.run(
            [*MANAGE, *args], cwd=APP_DIR, env=self.env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise DemoError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def prepare(self) -> None:
        """Seed the notes and apply all but the last migration: a deploy is pending."""
        self.manage("migrate", "notes", "0001")

    @contextlib.contextmanager
    def serve(self) -> Iterator[None]:
        log_path = self.workdir / "gunicorn.log"
        argv = [
            sys.executable, "-m", "gunicorn", "example_project.wsgi",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(GUNICORN_WORKERS),
            "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS),
            "--graceful-timeout", "5", "--log-level", "warning",
        ]  # fmt: skip
        with log_path.open("ab") as log:
            server = subprocess.Popen(
                argv, cwd=APP_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            self._wait_healthy(server, log_path)
            yield
        finally:
            stop_group(server, signal.SIGTERM)

    def _wait_healthy(self, server: subprocess.Popen[bytes], log_path: Path) -> None:
        deadline = time.monotonic() + 30
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if server.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise DemoError(f"gunicorn did not start:\n{log_path.read_text(errors='replace')[-3000:]}")

    @contextlib.contextmanager
    def runner(self, on_line: Callable[[str], None]) -> Iterator[subprocess.Popen[str]]:
        """``manage.py gatekeeper run-migration --json`` under way; its stderr (the
        phases) goes to ``on_line`` as it comes, its stdout (migrate's output, then the
        JSON summary) to ``runner.out`` in the work directory."""
        with (self.workdir / "runner.out").open("w") as out:
            process = subprocess.Popen(
                [*MANAGE, "gatekeeper", "run-migration", "--json"], cwd=APP_DIR, env=self.env,
                stdout=out, stderr=subprocess.PIPE, text=True, start_new_session=True,
            )  # fmt: skip
        assert process.stderr is not None
        stderr = process.stderr

        stopping = threading.Event()

        def relay() -> None:
            for line in stderr:
                # Once the demo stops the runner, migrate's KeyboardInterrupt traceback
                # says nothing new: pass on only the runner's own lines.
                if not stopping.is_set() or line.startswith("gatekeeper:"):
                    on_line(line.rstrip("\n"))

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        try:
            yield process
        finally:
            # SIGINT, as a terminal would send: the runner stops migrate and still releases
            # the gate (its failure policy), so the server is not left holding.
            if process.poll() is None:
                stopping.set()
            stop_group(process, signal.SIGINT)
            reader.join(5)
            stderr.close()

    def runner_output(self) -> str:
        return (self.workdir / "runner.out").read_text(errors="replace")

    def notes_like(self, pattern: str) -> list[str]:
        """Texts of the notes matching the SQL LIKE ``pattern``."""
        with contextlib.closing(sqlite3.connect(self.database)) as connection:
            rows = connection.execute(
                "SELECT text FROM notes_note WHERE text LIKE ?", (pattern,)
            ).fetchall()
        return [str(text) for (text,) in rows]
