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
server installed raises ``PostgresServerMissing`` saying how to install one. Starting,
waiting and stopping are :mod:`tools.procs`'s, as for every other server the tests run.
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

import psycopg

from tools.procs import Managed, free_port, launch, stop_process, tail, wait_ready

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


class PostgresServer(Managed):
    """A ``postgres`` process on 127.0.0.1; each ``start()`` begins with a fresh cluster."""

    def __init__(self, *, port: int | None = None, bindir: str | Path | None = None) -> None:
        self.bindir = Path(bindir) if bindir is not None else find_bindir()
        for name in ("initdb", "postgres"):
            if not os.access(self.bindir / name, os.X_OK):
                raise PostgresServerMissing(f"no executable {name} in {self.bindir}")
        self.port = port or free_port()
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._last_error: Exception | None = None
        # (uid, gid) to run initdb, cp and postgres as; None when we are not root
        self._run_as: tuple[int, int] | None = None
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresServerMissing(
                    f"running as root, but there is no {SYSTEM_USER!r} user to run PostgreSQL "
                    "as (Debian's postgresql package creates it: apt-get install postgresql)"
                ) from None
            self._run_as = (account.pw_uid, account.pw_gid)

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
        user, group = self._run_as or (None, None)
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
                    user=user,
                    group=group,
                    extra_groups=None if user is None else [],
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError(
                    f"{Path(argv[0]).name} did not finish in time:\n{tail(log)}"
                ) from None
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} exited with {done.returncode}:\n{tail(log)}")

    def _own(self, directory: Path) -> None:
        if self._run_as is not None:
            os.chown(directory, *self._run_as)

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
        user, group = self._run_as or (None, None)
        self.process = launch(
            argv, directory / "postgres.log", cwd=directory, env=self._env(), user=user, group=group
        )

    def _wait_ready(self, deadline: float) -> None:
        """Poll until a login works, then create the tests' database."""
        assert self.process is not None
        self._last_error = None
        wait_ready(
            self.process,
            self._create_database,
            max(0.1, deadline - time.monotonic()),
            name=f"postgres on 127.0.0.1:{self.port}",
            details=lambda: f"(last error: {self._last_error})\n{tail(self.log_path)}",
        )

    def _create_database(self) -> bool:
        # The bootstrap database exists as soon as the server is up; ``gk`` only after.
        admin = f"host=127.0.0.1 port={self.port} user={ROLE} dbname=postgres"
        try:
            with psycopg.connect(admin, connect_timeout=2, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        except psycopg.OperationalError as exc:  # not listening yet, or starting up
            self._last_error = exc
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT: abort sessions, then a clean exit), then remove the files.

        The signals go to the postmaster alone, which stops its backends itself; SIGQUIT
        (immediate shutdown) if it is still there ``timeout`` s later, then SIGKILL.
        """
        process, self.process = self.process, None
        stop_process(process, (signal.SIGINT, signal.SIGQUIT), timeout, group=False)
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _env(self) -> dict[str, str]:
        # The server's own settings come from its arguments; keep a client's PG* variables
        # and the caller's locale from leaking into initdb and postgres.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env
