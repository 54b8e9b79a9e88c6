"""A client for the master a set of Redis Sentinels names, that follows their failovers.

redis-py's ``Sentinel.master_for`` asks the sentinels for the master on every new
connection, and drops a connection whose server answers ``READONLY`` (an old master,
demoted). Three things are added here:

- The master is asked with ``SENTINEL GET-MASTER-ADDR-BY-NAME``, as the Sentinel client
  guidelines say, not read from ``SENTINEL MASTERS`` as redis-py does: the sentinel that
  leads a failover goes on listing the old master there until the failover is complete,
  some ten seconds after the new one took over (seen here with Redis 7.0 and Valkey 8.0),
  and redis-py asks that sentinel first.
- A command retried after an error asks the sentinels again (redis-py 8.1 reconnects it
  to the old address).
- :func:`primary_moved` and :func:`follow_primary` let a long-lived connection notice a
  new master even when the old one goes on answering: after ``SENTINEL FAILOVER`` it
  stays a master for those ten seconds, and a subscriber left on it hears nothing of the
  new one, with no error (redis-py issues #3867, #3560).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import SSLConnection
from redis.retry import Retry
from redis.sentinel import (
    MasterNotFoundError,
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
)

from gatekeeper._redis_urls import RedisTarget

__all__ = ["follow_primary", "primary_moved", "sentinel_client"]

_SENTINEL_TIMEOUT = 1.0
"""Seconds a sentinel gets to answer, at most."""


class _Sentinels(Sentinel):
    def discover_master(self, service_name: str) -> tuple[str, int]:
        failed = refused = 0
        for number, sentinel in enumerate(self.sentinels):
            try:
                reply = sentinel.execute_command(  # type: ignore[no-untyped-call]
                    "SENTINEL GET-MASTER-ADDR-BY-NAME", service_name
                )
            except redis.AuthenticationError:
                refused += 1
                continue
            except (redis.ConnectionError, redis.TimeoutError):
                failed += 1
                continue
            if reply:
                # The one that answered is asked first next time, as redis-py does.
                self.sentinels[0], self.sentinels[number] = sentinel, self.sentinels[0]
                host, port = reply
                return _text(host), int(port)
        if refused == len(self.sentinels):  # not worth a retry: the URL must be fixed
            raise redis.AuthenticationError("every sentinel refused the sentinel credentials")
        # No address (and no password) in the message: it reaches logs.
        raise MasterNotFoundError(
            f"no master for {service_name!r}: {failed} of {len(self.sentinels)} sentinels "
            "unreachable, the others name none"
        )


class _MasterConnection(SentinelManagedConnection):
    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        # redis-py 8.1 reconnects a retried command in here, past connect(): to the address
        # it had, the old master, which answers READONLY again. _connect_retry asks the
        # sentinels.
        if not self._sock:
            self._connect_retry()  # type: ignore[no-untyped-call]  # once: the command retries
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


class _MasterSSLConnection(_MasterConnection, SSLConnection):
    pass


class _SentinelRedis(redis.Redis):
    """The master's client; closing it closes the sentinel connections it asked too."""

    def close(self) -> None:
        super().close()
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            pool.sentinel_manager.close()


def sentinel_client(target: RedisTarget, options: Mapping[str, Any]) -> redis.Redis:
    """A client of the master of ``target.service``; ``options`` are redis-py's."""
    # Sentinels get the timeouts and TLS settings, and their own credentials (from the
    # query) or none: redis-py would otherwise send the master's password to them.
    for_sentinels = {
        name: value for name, value in options.items() if name.startswith(("socket_", "ssl"))
    }
    # A sentinel answers at once or not at all: the next one is asked instead, and the
    # command's own retries ask them all again. Retries here, inside those, multiplied:
    # a TLS sentinel asked in plain text took some 250 s to give up on.
    for name in ("socket_timeout", "socket_connect_timeout"):
        for_sentinels[name] = min(
            float(for_sentinels.get(name) or _SENTINEL_TIMEOUT), _SENTINEL_TIMEOUT
        )
    for_sentinels["retry"] = Retry(NoBackoff(), 0)
    sentinels = _Sentinels(  # type: ignore[no-untyped-call]
        list(target.nodes), sentinel_kwargs={**for_sentinels, **target.sentinel_auth}
    )
    assert target.service is not None  # parse_target requires it for a Sentinel URL
    options = dict(options)
    connection = _MasterSSLConnection if options.pop("ssl", False) else _MasterConnection
    client: redis.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
        target.service, redis_class=_SentinelRedis, connection_class=connection, **options
    )
    return client


def primary_moved(client: redis.Redis, connection: object) -> bool:
    """Whether the sentinels now name a master other than the one ``connection`` (say, a
    pub/sub connection) talks to. ``False`` when no sentinel answers (the master may well
    be fine) and for a client that is not a Sentinel one."""
    pool = client.connection_pool
    if not isinstance(pool, SentinelConnectionPool) or connection is None:
        return False
    try:
        named = pool.sentinel_manager.discover_master(pool.service_name)
    except redis.ConnectionError:
        return False
    where = (getattr(connection, "host", None), getattr(connection, "port", None))
    return bool(where != named)


def follow_primary(client: redis.Redis) -> None:
    """Drop the client's idle connections to a master the sentinels no longer name, so
    that its next command goes to the new one."""
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        with contextlib.suppress(redis.ConnectionError):
            pool.get_master_address()  # type: ignore[no-untyped-call]  # drops them if it moved


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
