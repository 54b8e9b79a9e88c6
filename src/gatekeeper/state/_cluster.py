"""A client for the one Redis Cluster node that serves gatekeeper's hash slot.

Every gatekeeper key shares one hash tag (``{gatekeeper}:state``, ...), so every command
of a gate, the runner or the CLI goes to one node: its MULTI blocks, Lua scripts, the
runner's lock and the pub/sub subscription then behave exactly as on a single server.
The connection here finds that node through redis-py's ``RedisCluster`` (from the
start-up nodes) each time it connects, as redis-py's Sentinel connection finds the
master. A ``MOVED``/``ASK`` (the slot moved, or a failover promoted a replica), a
``CLUSTERDOWN`` or a ``READONLY`` drops the connection and raises ``ConnectionError``:
whoever called then reconnects, which asks the cluster afresh.

Pub/sub is classic, not sharded: a cluster broadcasts every PUBLISH to every node, so a
subscriber hears the events channel whichever node it sits on, across slot migrations
and failovers alike; it sits on the slot's node so that keyspace notifications (which
stay on the node that holds the key) reach it too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import Connection, ConnectionPool, SSLConnection
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)

__all__ = ["SlotNodeRedis", "slot_node_client"]

_TOPOLOGY_CHANGED = (AskError, ClusterDownError, ReadOnlyError, TryAgainError)  # MOVED is an ASK


class SlotLocator:
    """Which node serves ``slot`` now, asked of the cluster on demand and then remembered."""

    def __init__(
        self, startup: tuple[tuple[str, int], ...], slot: int, kwargs: Mapping[str, Any]
    ) -> None:
        self.startup = startup
        self.slot = slot
        self._kwargs = dict(kwargs)
        self._owner: tuple[str, int] | None = None
        self._lock = threading.Lock()

    def owner(self) -> tuple[str, int]:
        with self._lock:
            if self._owner is None:
                self._owner = self._discover()
            return self._owner

    def forget(self) -> None:
        """The next :meth:`owner` asks the cluster again."""
        with self._lock:
            self._owner = None

    def _discover(self) -> tuple[str, int]:
        nodes = [ClusterNode(host, port) for host, port in self.startup]  # type: ignore[no-untyped-call]
        try:
            cluster = RedisCluster(startup_nodes=nodes, require_full_coverage=False, **self._kwargs)
        except RedisClusterException as exc:  # not a RedisError: callers expect one
            raise redis.ConnectionError(f"no start-up node answered: {exc}") from None
        try:
            node = cluster.nodes_manager.get_node_from_slot(self.slot)
            return str(node.host), int(node.port)
        except RedisClusterException as exc:
            raise redis.ConnectionError(f"slot {self.slot} is not served: {exc}") from None
        finally:
            cluster.close()


class SlotNodeConnection(Connection):
    """A connection to whichever node serves the locator's slot when it connects."""

    def __init__(self, **kwargs: Any) -> None:
        self.locator: SlotLocator = kwargs.pop("locator")
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]

    def connect(self) -> None:
        self.retry.call_with_retry(self._connect_to_owner, lambda _error: self.locator.forget())

    def _connect_to_owner(self) -> None:
        if self._sock:
            return
        self.host, self.port = self.locator.owner()
        self.connect_check_health(check_health=True, retry_socket_connect=False)

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        # redis-py 8.1 reconnects a retried command in here, past connect(): to the old
        # node. connect() asks the cluster which node serves the slot now.
        if not self._sock:
            try:  # once: the command retries
                self._connect_to_owner()
            except redis.ConnectionError:
                self.locator.forget()
                raise
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except _TOPOLOGY_CHANGED as exc:
            self.locator.forget()
            self.disconnect()  # type: ignore[no-untyped-call]
            raise redis.ConnectionError(f"cluster changed ({exc.__class__.__name__})") from None


class SlotNodeSSLConnection(SlotNodeConnection, SSLConnection):
    pass


class SlotNodeRedis(redis.Redis):
    """A ``redis.Redis`` on the slot's node; :attr:`locator` says which node that is."""

    locator: SlotLocator


def slot_node_client(
    startup: tuple[tuple[str, int], ...], route_key: str, kwargs: Mapping[str, Any]
) -> SlotNodeRedis:
    """A client whose every connection goes to the node that serves ``route_key``."""
    options = dict(kwargs)
    options.pop("db", None)  # a cluster has database 0 only, and RedisCluster refuses "db"
    tls = bool(options.pop("ssl", False))
    discovery = {
        name: value for name, value in options.items() if name not in ("retry", "retry_on_timeout")
    }
    if tls:
        discovery["ssl"] = True
    locator = SlotLocator(startup, key_slot(route_key.encode()), discovery)
    pool = ConnectionPool(
        connection_class=SlotNodeSSLConnection if tls else SlotNodeConnection,
        locator=locator,
        **options,
    )
    client = SlotNodeRedis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as from_pool: closing the client closes it
    client.locator = locator
    return client
