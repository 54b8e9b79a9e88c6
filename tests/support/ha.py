"""One face for the Sentinel set and the cluster: where gatekeeper's keys live, a kill of
that node, and the wait for its successor, so that a test reads the same for both."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import redis

from gatekeeper.state._redis import operator_client, watcher_client
from gatekeeper.state.keys import Keys
from tests.support._ha_common import Address, Flavour
from tests.support.redis_cluster import ClusterSet
from tests.support.redis_sentinel import SentinelSet

__all__ = ["HA", "RenewalMonitor", "ha_topology", "sentinel_ha"]

Kind = Literal["sentinel", "cluster"]


@dataclass
class HA:
    kind: Kind
    topology: SentinelSet | ClusterSet
    url: str
    keys: Keys

    def primary(self) -> Address:
        """The node that holds gatekeeper's keys now."""
        if isinstance(self.topology, SentinelSet):
            return self.topology.master_address()
        return self.topology.owner_of(self.keys.state)

    def kill_primary(self) -> tuple[Address, float]:
        """SIGKILL that node; its address and the ``time.monotonic()`` of the kill."""
        if isinstance(self.topology, SentinelSet):
            return self.topology.kill_master()
        old = self.primary()
        return old, self.topology.kill_node(old)

    def wait_new_primary(self, old: Address, timeout: float = 30.0) -> Address:
        if isinstance(self.topology, SentinelSet):
            return self.topology.wait_failover(old, timeout)
        return self.topology.wait_owner_changed(self.keys.state, old, timeout)

    def client(self) -> redis.Redis:
        """gatekeeper's own operator client: it follows the failover as the CLI does."""
        return operator_client(self.url, self.keys.state)

    def primary_client(self) -> redis.Redis:
        """A plain client to the primary of now (decoded strings)."""
        return self.topology.client_for(self.primary())


@contextmanager
def ha_topology(kind: Kind, prefix: str, flavour: Flavour = "redis") -> Iterator[HA]:
    topology: SentinelSet | ClusterSet = (
        SentinelSet(flavour=flavour) if kind == "sentinel" else ClusterSet(flavour=flavour)
    )
    with topology:
        url = topology.url()
        yield HA(kind, topology, url, Keys.for_url(prefix, url))


@contextmanager
def sentinel_ha(prefix: str) -> Iterator[tuple[HA, SentinelSet]]:
    """:func:`ha_topology` for Sentinel, with the set itself typed as one."""
    with ha_topology("sentinel", prefix) as ha:
        assert isinstance(ha.topology, SentinelSet)
        yield ha, ha.topology


@dataclass
class RenewalMonitor:
    """Watches the TTL of a key on whichever node holds it, every ``interval``: a renewal
    shows as the TTL going up. :attr:`longest_gap` is the most time between two of them,
    :attr:`lapsed` when the key was found gone after it was first seen."""

    ha: HA
    key: str
    interval: float = 0.02
    renewals: list[float] = field(default_factory=list)
    lapsed: list[float] = field(default_factory=list)
    unreadable: float = 0.0
    """Seconds the key could not be read at all (the node down, no successor yet)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RenewalMonitor:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def longest_gap(self) -> float:
        times = self.renewals
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def _watch(self) -> None:
        # No retries of its own: a retry's backoff would delay seeing a renewal.
        client = watcher_client(self.ha.url, 0.5, self.ha.keys.state)
        # A renewal moves the expiry later. Comparing TTLs instead missed the first renewal
        # after an outage whenever the TTL read before it had been higher.
        expires: float | None = None
        try:
            while not self._stop.wait(self.interval):
                now = time.monotonic()
                try:
                    ttl = int(client.pttl(self.key))
                except redis.RedisError:
                    self.unreadable += self.interval
                    continue
                if ttl == -2 and self.renewals:  # gone after it was first set
                    self.lapsed.append(now)
                elif ttl > 0:
                    expiry = now + ttl / 1000
                    if expires is None or expiry > expires + 0.05:  # beyond read jitter
                        self.renewals.append(now)
                    expires = expiry
        finally:
            client.close()
