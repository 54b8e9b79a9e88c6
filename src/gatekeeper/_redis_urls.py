"""What a ``redis_url`` names: one server, a Sentinel-watched master, or a Redis Cluster.

::

    redis://[[user]:password@]host[:port][/db]          one server (redis-py's own forms,
    rediss://...   unix:///path/to.sock?db=0            TLS and sockets included)
    redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]
    rediss+sentinel://...                               TLS to the sentinels and the master
    redis+cluster://[[user]:password@]host:port[,host:port...]
    rediss+cluster://...                                the listed nodes are start-up nodes

The credentials before ``@`` are the data nodes'. Sentinels that have their own go in the
query: ``?sentinel_username=...&sentinel_password=...``. Any other query parameter is
redis-py's (``socket_timeout``, ``ssl_ca_certs``, ``ssl_cert_reqs``...) and applies to every
connection. Parsing is pure: nothing connects here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from redis.connection import SSLConnection, parse_url

__all__ = ["HA_SCHEMES", "SCHEMES_TEXT", "RedisKind", "RedisTarget", "parse_target"]

RedisKind = Literal["redis", "sentinel", "cluster"]

HA_SCHEMES: dict[str, tuple[RedisKind, bool]] = {
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
"""Scheme -> (kind, TLS) for the URL forms redis-py's ``from_url`` does not know."""

SCHEMES_TEXT = "redis://, rediss://, unix://, " + ", ".join(f"{name}://" for name in HA_SCHEMES)

_DEFAULT_PORT: dict[RedisKind, int] = {"redis": 6379, "sentinel": 26379, "cluster": 6379}
_SENTINEL_QUERY = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class RedisTarget:
    kind: RedisKind
    url: str = field(repr=False)
    nodes: tuple[tuple[str, int], ...] = ()
    """The sentinels, or the cluster's start-up nodes (empty for one server)."""
    service: str | None = None
    """The Sentinel service (master) name."""
    tls: bool = False
    connection: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """redis-py connection arguments for the data nodes (db, credentials, timeouts, TLS)."""
    sentinel_auth: Mapping[str, str] = field(default_factory=dict, repr=False)
    """``username``/``password`` for the sentinels themselves, when they have their own."""

    def secrets(self) -> tuple[str, ...]:
        """Every password in the URL: what a log line or an error message must never show."""
        found = (self.connection.get("password"), self.sentinel_auth.get("password"))
        return tuple(secret for secret in found if secret)

    @property
    def db(self) -> int:
        return int(self.connection.get("db", 0) or 0)


def parse_target(url: str) -> RedisTarget:
    """Parse a ``redis_url``; a ``ValueError`` (that quotes no password) if it is not one."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("a Redis URL starts with a scheme, as in redis://host:6379/0")
    lowered = scheme.lower()
    _refuse_tls_options_without_tls(lowered, url)
    if lowered not in HA_SCHEMES:
        if lowered not in ("redis", "rediss", "unix"):
            raise ValueError(f"unknown scheme {scheme!r}: expected one of {SCHEMES_TEXT}")
        parse_url(url)  # type: ignore[no-untyped-call]  # redis-py's own error for a bad one
        return RedisTarget("redis", url)
    kind, tls = HA_SCHEMES[lowered]
    parts = urlsplit(f"redis://{rest}")
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    nodes = tuple(_node(text, _DEFAULT_PORT[kind]) for text in hostlist.split(",") if text)
    if not nodes:
        raise ValueError(f"a {scheme}:// URL needs at least one host:port")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    sentinel_auth = {
        name.removeprefix("sentinel_"): query.pop(name) for name in _SENTINEL_QUERY if name in query
    }
    path = [unquote(piece) for piece in parts.path.split("/") if piece]
    service: str | None = None
    if kind == "sentinel":
        if not path:
            raise ValueError(f"a {scheme}:// URL names the service after the hosts: .../mymaster")
        service, *path = path
    elif sentinel_auth:
        raise ValueError("sentinel_username and sentinel_password are for Sentinel URLs only")
    if len(path) > 1 or (path and not path[0].isdigit()):
        raise ValueError(f"unexpected path {parts.path!r}: only a database number may follow")
    if kind == "cluster" and path and path[0] != "0":
        raise ValueError("Redis Cluster has only database 0")
    host, port = nodes[0]
    shown = f"[{host}]" if ":" in host else host
    # The rest (credentials, db, query options) is redis-py's to parse, as for one server.
    db = path[0] if path else "0"
    single = f"{'rediss' if tls else 'redis'}://{userinfo}{at}{shown}:{port}/{db}"
    try:
        connection = parse_url(single + (f"?{urlencode(query)}" if query else ""))  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise ValueError(str(exc).replace(single, f"{scheme}://...")) from None
    for name in ("host", "port", "path"):
        connection.pop(name, None)
    if connection.pop("connection_class", None) is SSLConnection:
        connection["ssl"] = True
    return RedisTarget(kind, url, nodes, service, tls, connection, sentinel_auth)


def _refuse_tls_options_without_tls(scheme: str, url: str) -> None:
    # redis-py passes them to a plain connection, which fails on its first command with a
    # TypeError: most likely "rediss" was meant, so say so now.
    if scheme.startswith("rediss"):
        return
    names = {name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    tls_only = sorted(name for name in names if name.startswith("ssl"))
    if tls_only:
        wanted = (
            f"rediss{scheme.removeprefix('redis')}://"
            if scheme.startswith("redis")
            else "rediss://"
        )
        verb = "needs" if len(tls_only) == 1 else "need"
        raise ValueError(f"{', '.join(tls_only)} {verb} TLS: use a {wanted} URL")


def _node(text: str, default_port: int) -> tuple[str, int]:
    host, port = text, ""
    if text.startswith("["):  # [::1]:26379
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if not host:
        raise ValueError(f"{text!r} names no host")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} has no valid port")
    return host, int(port)
