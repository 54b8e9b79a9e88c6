"""A throwaway PostgreSQL server on a free loopback port, for end-to-end tests.

::

    with PostgresServer() as server:
        with psycopg.connect(server.dsn) as conn:
            ...

It runs Debian's real server (package ``postgresql``, which ``scripts/setup.sh`` installs):
the newest ``/usr/lib/postgresql/<major>/bin`` that has ``initdb`` and ``postgres``, never
whatever is on ``PATH``. Each ``start()`` makes a fresh temporary directory with a fresh
cluster in it (UTF8, C locale, trust authentication for local and loopback connections)
and starts ``postgres`` listening only on 127.0.0.1 at ``port``, with its unix socket in
that directory and durability switched off for speed (``fsync``, ``synchronous_commit``,
``full_page_writes`` off). ``stop()`` does a fast shutdown and removes the directory, so a
stopped server starts again from an empty cluster.

``initdb`` takes about a second, so it runs once per process into a template directory
(removed at exit) and each start copies that never-started cluster with ``cp -a``, as
PostgreSQL's own test suite does with its initdb template: a few tens of milliseconds.

Role and database: ``initdb -U gk`` makes ``gk`` the cluster's bootstrap superuser and
``start()`` creates a database ``gk`` owned by it; ``dsn`` and ``url`` name both. There is
no password: authentication is ``trust``, so only use it on a machine you own.

Root: PostgreSQL refuses to run as root. When the tests run as root (as in CI), ``initdb``
and ``postgres`` run as the ``postgres`` system user that Debian's package creates
(``subprocess`` switches user and group before exec), and the temporary directory is
chowned to that user. The role the tests connect as is ``gk`` either way; which OS user
runs the server does not change it.

Failures raise ``RuntimeError`` with the tail of the server's log; a machine with no
server installed raises ``PostgresServerMissing`` saying how to install one.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from gatekeeper.testing import free_port

__all__ = ["PostgresServer", "PostgresServerMissing", "find_bindir"]

DEBIAN_ROOT = Path("/usr/lib/postgresql")
ROLE = "gk"
DATABASE = "gk"
# The OS user Debian's package creates; the server runs as it when we are root.
SYSTEM_USER = "postgres"

# bindir -> the data directory of a cluster initdb made and nothing ever started
_templates: dict[Path, Path] = {}
_templates_lock = threading.Lock()


class PostgresServerMissing(RuntimeError):
    pass


def find_bindir(root: Path = DEBIAN_ROOT) -> Path:
    """The newest ``<root>/<major>/bin`` holding both ``initdb`` and ``postgres``."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for bindir in root.glob("*/bin"):
        version = bindir.parent.name
        if not re.fullmatch(r"\d+(\.\d+)*", version):
            continue
        if all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres")):
            found.append((tuple(int(part) for part in version.split(".")), bindir))
    if not found:
        raise PostgresServerMissing(
            f"no PostgreSQL server under {root}/*/bin: install it (Debian: apt-get install "
            "postgresql) or run scripts/setup.sh, which does"
        )
    return max(found)[1]


class PostgresServer:
    """A ``postgres`` process on 127.0.0.1; each ``start()`` begins with a fresh cluster."""

    def __init__(self, *, port: int | None = None, bindir: str | Path | None = None) -> None:
        self.bindir = Path(bindir) if bindir is not None else find_bindir()
        for name in ("initdb", "postgres"):
            if not os.access(self.bindir / name, os.X_OK):
                raise PostgresServerMissing(f"no executable {name} in {self.bindir}")
        self.port = port or free_port()
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresServerMissing(
                    f"running as root, but there is no {SYSTEM_USER!r} user to run PostgreSQL "
                    "as (Debian's postgresql package creates it: apt-get install postgresql)"
                ) from None
            self._run_as = {
                "user": account.pw_uid,
                "group": account.pw_gid,
                "extra_groups": [],
            }

    @property
    def dsn(self) -> str:
        """A libpq connection string: ``psycopg.connect(server.dsn)``."""
        return f"host=127.0.0.1 port={self.port} user={ROLE} dbname={DATABASE}"

    @property
    def url(self) -> str:
        """The same as a URI (SQLAlchemy wants ``postgresql+psycopg://`` in front)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def data_directory(self) -> Path | None:
        return None if self.directory is None else self.directory / "data"

    @property
    def log_path(self) -> Path | None:
        return None if self.directory is None else self.directory / "postgres.log"

    def start(self, timeout: float = 30.0) -> None:
        """Make a fresh cluster, start the server and wait until ``gk`` accepts a login."""
        if self.process is not None:
            raise RuntimeError("PostgresServer already started")
        deadline = time.monotonic() + timeout
        directory = Path(tempfile.mkdtemp(prefix="gatekeeper-pg-"))
        self.directory = directory
        try:
            self._own(directory)
            template = self._template(deadline)
            # cp runs as the server's user, so the copy is that user's, modes kept
            self._run(
                ["cp", "-a", str(template), str(directory / "data")], directory / "cp.log", deadline
            )
            self._launch(directory)
            self._wait_ready(deadline)
        except BaseException:
            self.stop()
            raise

    def _run(self, argv: list[str], log: Path, deadline: float) -> None:
        with log.open("ab") as out:
            try:
                done = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=log.parent,
                    env=self._env(),
                    timeout=max(0.1, deadline - time.monotonic()),
                    check=False,
                    **self._run_as,
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError(
                    f"{Path(argv[0]).name} did not finish in time:\n{_tail(log)}"
                ) from None
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} exited with {done.returncode}:\n{_tail(log)}")

    def _own(self, directory: Path) -> None:
        if self._run_as:
            os.chown(directory, self._run_as["user"], self._run_as["group"])

    def _template(self, deadline: float) -> Path:
        """This process's initdb'd cluster for ``bindir``, made on first use."""
        with _templates_lock:
            template = _templates.get(self.bindir)
            if template is not None and (template / "PG_VERSION").is_file():
                return template
            directory = Path(tempfile.mkdtemp(prefix="gatekeeper-pg-template-"))
            try:
                self._own(directory)
                self._run(
                    [
                        str(self.bindir / "initdb"),
                        "--pgdata", str(directory / "data"),
                        "--username", ROLE,
                        "--auth", "trust",
                        "--encoding", "UTF8",
                        "--locale", "C",
                        "--no-sync",
                    ],
                    directory / "initdb.log",
                    deadline,
                )  # fmt: skip
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            template = _templates[self.bindir] = directory / "data"
            return template

    def _launch(self, directory: Path) -> None:
        argv = [
            str(self.bindir / "postgres"),
            "-D", str(directory / "data"),
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={directory}",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=50",
        ]  # fmt: skip
        with (directory / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
                env=self._env(),
                **self._run_as,
            )

    def _wait_ready(self, deadline: float) -> None:
        """Poll until a login works, then create the tests' database."""
        assert self.process is not None
        # The bootstrap database exists as soon as the server is up; ``gk`` only after.
        admin = f"host=127.0.0.1 port={self.port} user={ROLE} dbname=postgres"
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self.process.returncode}:\n{self._log_tail()}"
                )
            try:
                with psycopg.connect(admin, connect_timeout=2, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
                return
            except psycopg.OperationalError as exc:  # not listening yet, or starting up
                last = exc
            time.sleep(0.02)
        raise RuntimeError(
            f"postgres did not accept a connection on 127.0.0.1:{self.port} in time "
            f"(last error: {last}):\n{self._log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT: abort sessions, then a clean exit), then remove the files."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
                process.send_signal(sig)
                try:
                    process.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _env(self) -> dict[str, str]:
        # The server's own settings come from its arguments; keep a client's PG* variables
        # and the caller's locale from leaking into initdb and postgres.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _log_tail(self) -> str:
        log = self.log_path
        return "(no log)" if log is None else _tail(log)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])
