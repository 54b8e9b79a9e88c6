"""The Redis clients gatekeeper makes, with their timeouts, in one place.

The watcher's client never retries on its own: every lost connection must reach the
watcher's loop, which reconnects and then knows the next read follows a gap (see
``snapshot.keep_vanished``). The operator's client retries, every quarter second at most
for 5 s at most, never refused credentials: a command typed by hand, or a runner's
renewal, rides out a blip or a failover.

Whatever the URL names, the result is a plain ``redis.Redis`` whose connections go to the
node that holds gatekeeper's keys now: the master a Sentinel names (redis-py's
``master_for``: it asks the sentinels again on every new connection, and drops a
connection whose server answers ``READONLY``), or the node that serves the keys' hash
slot in a cluster (``_cluster``). Callers reconnect by making a new connection, which is
what they do after any error anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import AbstractBackoff, ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import SentinelConnectionPool

from gatekeeper._redis_urls import RedisTarget, parse_target
from gatekeeper.state._cluster import SlotNodeRedis, slot_node_client
from gatekeeper.state._sentinel import sentinel_client
from gatekeeper.state.keys import Keys

__all__ = ["operator_client", "queued_messages", "read_state", "serving_node", "watcher_client"]

T = TypeVar("T")


def watcher_client(url: str, timeout: float, route_key: str) -> redis.Redis:
    """A client for a gate process's watcher thread: bounded, no silent retries."""
    return _client(
        parse_target(url),
        route_key,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def operator_client(url: str, route_key: str) -> redis.Redis:
    """A client for the ``gatekeeper`` command and the runner: a command typed, or a
    renewal made, during a failover rides it out (a pool of gatekeeper's own, as for
    Sentinel and Cluster, would retry nothing unless told)."""
    # Tries every quarter second at most, for 5 s at most: a failover is over within that,
    # and a renewal must land soon after it, not a backoff of a second later.
    retry = _Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.25), 20, budget=5.0)
    return _client(
        parse_target(url), route_key, socket_connect_timeout=3, socket_timeout=5, retry=retry
    )


class _Retry(Retry):
    """redis-py's retry, but never of refused credentials (``AuthenticationError`` is a
    ``ConnectionError``: retries would only delay the one-line error), and none that
    would start more than ``budget`` seconds after the first try (attempts that each wait
    out a timeout would otherwise add up to minutes)."""

    def __init__(self, backoff: AbstractBackoff, retries: int, *, budget: float) -> None:
        super().__init__(backoff, retries)
        self.budget = budget

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        give_up_at = time.monotonic() + self.budget

        def retryable(error: Exception) -> bool:
            if isinstance(error, redis.AuthenticationError) or time.monotonic() > give_up_at:
                return False
            return is_retryable is None or is_retryable(error)

        return super().call_with_retry(do, fail, retryable, with_failure_count)


def _client(target: RedisTarget, route_key: str, **options: Any) -> redis.Redis:
    if target.kind == "redis":
        return redis.Redis.from_url(target.url, **options)
    merged = {**target.connection, **options}
    if target.kind == "cluster":
        return slot_node_client(target.nodes, route_key, merged)
    return sentinel_client(target, merged)


def serving_node(client: redis.Redis) -> str:
    """``host:port`` of the node this client talks to now, with how it was found:
    ``127.0.0.1:6380 (master of 'mymaster' per Sentinel)``. Call it right after a
    command: it reads the address of the connection that command used."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        host, port = getattr(connection, "host", None), getattr(connection, "port", None)
        address = f"{host}:{port}" if host else str(getattr(connection, "path", "?"))
    finally:
        pool.release(connection)
    if isinstance(pool, SentinelConnectionPool):
        return f"{address} (master of {pool.service_name!r} per Sentinel)"
    if isinstance(client, SlotNodeRedis):
        return f"{address} (cluster node serving slot {client.locator.slot})"
    return address


def queued_messages(pubsub: Any, limit: int = 1000) -> list[dict[str, Any]]:
    """The pub/sub messages already arrived, read without waiting (at most ``limit``)."""
    messages = []
    for _ in range(limit):
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
        if message is None:
            break
        messages.append(message)
    return messages


def read_state(client: redis.Redis, keys: Keys) -> list[Any]:
    """``GET`` state, ``HGETALL`` info, ``GET`` keepalive and handoff: one round trip, the
    watcher's re-read (:func:`gatekeeper.state.snapshot.read_snapshot` parses it)."""
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.state)
    pipe.hgetall(keys.info)
    pipe.get(keys.keepalive)
    pipe.get(keys.handoff)
    return pipe.execute()
