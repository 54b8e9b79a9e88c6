"""What :mod:`tests.support.redis_sentinel` and :mod:`tests.support.redis_cluster` share.

The binaries of a flavour (``redis-server``/``redis-cli`` or ``valkey-server``/
``valkey-cli``, a ``RuntimeError`` saying how to install them when missing), distinct free
loopback ports, one process per node (:class:`tools.procs.ServerProcess`, SIGKILLed to
stop: nothing here persists), polling clients and a topology base whose ``start()`` stops
whatever it started when it fails halfway and whose ``stop()`` removes its directory.

With ``tls=True`` a topology makes a CA and a server certificate in its directory
(:func:`make_tls_files`), every node listens on TLS only (``port 0``, clients need no
certificate) and everything here that talks to a node (``ca=``) speaks TLS too.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gatekeeper.testing import free_port
from tests.support._ha_tls import TLSFiles, make_tls_files, tls_options
from tools.procs import LOOPBACK, Managed, ServerProcess, poll_until, stop_process

__all__ = [
    "ERRORS", "LOOPBACK", "Address", "Flavour", "Node", "TLSFiles", "Topology", "answers",
    "binaries", "call", "fields", "free_ports", "make_tls_files", "poll_client", "quote_conf",
    "role", "shown", "tls_options", "wait",
]  # fmt: skip

Flavour = Literal["redis", "valkey"]
Address = tuple[str, int]
# Debian's packages, and what scripts/setup.sh needs to be told to install them
PACKAGES = {"redis": "redis-server redis-tools", "valkey": "valkey-server valkey-tools"}
SETUP = {
    "redis": "scripts/setup.sh",
    "valkey": "scripts/setup.sh valkey-server valkey-cli:valkey-tools",
}
ERRORS = (redis.RedisError, OSError)


def binaries(flavour: Flavour) -> tuple[str, str]:
    found = [shutil.which(f"{flavour}-{kind}") for kind in ("server", "cli")]
    if found[0] is None or found[1] is None:
        raise RuntimeError(
            f"{flavour}-server and {flavour}-cli are needed on PATH: install them "
            f"(Debian: apt-get install {PACKAGES[flavour]}, or run {SETUP[flavour]})"
        )
    return found[0], found[1]


def free_ports(count: int) -> list[int]:
    # free_port() may hand out the same port twice in a row: ask until they differ.
    ports: list[int] = []
    for _ in range(count * 20):
        if len(ports) == count:
            break
        port = free_port()
        if port not in ports:
            ports.append(port)
    assert len(ports) == count, "could not find enough distinct free ports"
    return ports


def _connect(port: int, ca: Path | None, timeout: float) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
    if ca is None:
        return sock
    try:
        context = ssl.create_default_context(cafile=str(ca))
        return context.wrap_socket(sock, server_hostname=LOOPBACK)
    except BaseException:
        sock.close()
        raise


def answers(port: int, ca: Path | None = None) -> bool:
    """Whether a node answers ``PING`` (``NOAUTH`` too) right now, over TLS given ``ca``."""
    try:
        with _connect(port, ca, timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:  # ssl.SSLError among them
        return False


def poll_client(
    port: int, password: str | None, timeout: float = 1.0, *, ca: Path | None = None
) -> redis.Redis:
    # For polling: no retries, so a dead node costs one refused connection.
    return redis.Redis(
        LOOPBACK, port, password=password, decode_responses=True, socket_timeout=timeout,
        socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), **tls_options(ca),
    )  # fmt: skip


def call(port: int, password: str | None, *args: str, ca: Path | None = None) -> Any:
    with poll_client(port, password, ca=ca) as client:
        return client.execute_command(*args)


def role(port: int, password: str | None, ca: Path | None = None) -> str:
    try:
        return str(call(port, password, "ROLE", ca=ca)[0])
    except ERRORS:
        return "unreachable"


def fields(text: str) -> dict[str, str]:
    pairs = (line.partition(":") for line in text.splitlines() if ":" in line)
    return {name: value.strip() for name, _, value in pairs}


def wait(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    seen: Callable[[], Any],
    logs: Sequence[Node] = (),
) -> None:
    """Poll ``check`` (a Redis or socket error counts as not yet); on timeout a
    ``RuntimeError`` with ``seen()`` and the end of each of ``logs``' logs."""

    def quietly() -> bool:
        try:
            return check()
        except ERRORS:
            return False

    if not poll_until(quietly, timeout, interval=0.05):
        tails = "".join(f"\n--- {node.name}:\n{node.output()[-1500:]}" for node in logs)
        raise RuntimeError(f"{what} not within {timeout:.0f}s; last seen: {seen()!r}{tails}")


def shown(read: Callable[[], Any]) -> Any:
    """``read()``, or the error it raised: what a failed wait says it last saw."""
    try:
        return read()
    except ERRORS as exc:
        return repr(exc)


def quote_conf(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Node(ServerProcess):
    """One server (or sentinel) process in its own directory, on 127.0.0.1:``port``."""

    def __init__(self, port: int, home: Path, argv: Sequence[str], ca: Path | None = None) -> None:
        home.mkdir(exist_ok=True)
        self.home = home
        super().__init__(
            argv, port, name=f"{Path(argv[0]).name}:{port}", log_path=home / "log",
            ready=lambda: answers(port, ca), start_timeout=10.0, stop_signals=(),
        )  # fmt: skip

    @property
    def address(self) -> Address:
        return (LOOPBACK, self.port)

    def kill(self) -> float:
        """SIGKILL it (and any child it forked for a sync); when that happened."""
        assert self.process is not None, f"{self.name} is not running"
        process, self.process = self.process, None
        killed_at = time.monotonic()
        stop_process(process, signals=())
        return killed_at


class Topology(Managed):
    """Nodes of one flavour in one temporary directory; ``start()`` runs ``_start()`` and
    stops everything if it raises, ``stop()`` kills every node and removes the directory.
    With ``tls``, ``start()`` first makes :attr:`tls_files` there."""

    def __init__(self, flavour: Flavour, password: str | None, tls: bool = False) -> None:
        self.flavour = flavour
        self.server, self.cli = binaries(flavour)
        self.password = password
        self.tls = tls
        self.tls_files: TLSFiles | None = None
        self.nodes: list[Node] = []
        self._dir: Path | None = None

    @property
    def ca(self) -> Path | None:
        """The CA certificate to check the nodes' certificates with (``None``: no TLS)."""
        return None if self.tls_files is None else self.tls_files.ca

    def _tls_settings(self) -> list[tuple[str, str]]:
        """The TLS directives every node gets, data node and sentinel alike."""
        files = self.tls_files
        if files is None:
            return []
        return [
            ("tls-cert-file", str(files.cert)), ("tls-key-file", str(files.key)),
            ("tls-ca-cert-file", str(files.ca)), ("tls-auth-clients", "no"),
            ("tls-replication", "yes"),
        ]  # fmt: skip

    def _node(self, port: int, home: Path, argv: Sequence[str]) -> Node:
        return Node(port, home, argv, self.ca)

    def _data_argv(self, port: int, home: Path, *extra: str) -> list[str]:
        pw = self.password
        auth = ["--requirepass", pw, "--masterauth", pw] if pw else []
        listen = ["--port", str(port)]
        if self.tls:
            listen = ["--port", "0", "--tls-port", str(port)]
            listen += [arg for name, value in self._tls_settings() for arg in (f"--{name}", value)]
        return [
            self.server, *listen, "--bind", LOOPBACK, "--protected-mode", "no",
            "--dir", str(home), "--save", "", "--appendonly", "no",
            # A master waits 5 s by default for more replicas before a diskless full sync.
            "--repl-diskless-sync-delay", "0",
            *auth, *extra,
        ]  # fmt: skip

    def _home(self, name: str) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"gk-{self.flavour}-ha-"))
        return self._dir / name

    def _node_at(self, address: Address) -> Node:
        for node in self.nodes:
            if node.address == tuple(address):
                return node
        raise ValueError(f"{address} is none of this topology's nodes")

    def _live(self, nodes: Sequence[Node]) -> list[Node]:
        return [node for node in nodes if node.process is not None]

    def _replication(self, node: Node) -> dict[str, Any]:
        with poll_client(node.port, self.password, ca=self.ca) as client:
            return dict(client.info("replication"))

    def _link(self, node: Node) -> Any:
        return self._replication(node).get("master_link_status")

    def _links(self, nodes: Sequence[Node]) -> list[Any]:
        """Each replica's ``master_link_status`` (``up``: in sync), or why it is unknown."""
        return [shown(partial(self._link, node)) for node in nodes]

    def client_for(self, address: Address) -> redis.Redis:
        """A plain client to one node, over TLS if the topology is (the caller closes it)."""
        host, port = address
        return redis.Redis(
            host, port, password=self.password, decode_responses=True,
            socket_timeout=5.0, socket_connect_timeout=2.0, **tls_options(self.ca),
        )  # fmt: skip

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []
        self.tls_files = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def start(self) -> None:
        self.stop()
        try:
            if self.tls:
                self.tls_files = make_tls_files(self._home("tls"))
            self._start()
        except BaseException:
            self.stop()
            raise

    @abstractmethod
    def _start(self) -> None: ...
