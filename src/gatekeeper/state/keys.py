"""Names of the Redis keys and channels that make up the shared state contract."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper._redis_urls import parse_target

__all__ = ["Keys", "has_hash_tag"]


def has_hash_tag(name: str) -> bool:
    """Whether Redis Cluster would hash only a part of ``name``: the text between its
    first ``{`` and the next ``}``, when that is not empty."""
    start = name.find("{")
    return start != -1 and name.find("}", start + 1) > start + 1


@dataclass(frozen=True)
class Keys:
    """Every Redis name gatekeeper uses, derived from one prefix (in a Redis Cluster, a
    hash-tagged one: see :meth:`for_url`).

    ``<prefix>:state``   the mode, a plain string (absent means ``open``)
    ``<prefix>:info``    hash: message, retry_after, hold_until, since, owner, generation
    ``<prefix>:events``  channel: any message means "re-read the state now"
    ``<prefix>:lock``    the migration runner's lock (token with an expiry)
    ``<prefix>:procs``   sorted set of live gate processes, scored by last heartbeat
    ``<prefix>:proc:ID`` one gate process's report, expiring unless renewed
    ``<prefix>:keepalive`` ``off`` (or ``off:HOST,HOST``): gates close their clients'
    connections after each response; set with a TTL around a reload
    ``<prefix>:handoff`` a release name: gates of any other release answer what they hold
    (and what arrives) with a redirect, so that the client re-sends it to that release
    """

    prefix: str = "gatekeeper"

    @classmethod
    def for_url(cls, prefix: str, redis_url: str) -> Keys:
        """The keys for ``prefix`` on that Redis: in a cluster they must share one hash
        slot, so a prefix without a hash tag gets one (``{gatekeeper}:state``, ...)."""
        if parse_target(redis_url).kind == "cluster" and not has_hash_tag(prefix):
            prefix = f"{{{prefix}}}"
        return cls(prefix)

    @property
    def state(self) -> str:
        return f"{self.prefix}:state"

    @property
    def info(self) -> str:
        return f"{self.prefix}:info"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def lock(self) -> str:
        return f"{self.prefix}:lock"

    @property
    def keepalive(self) -> str:
        return f"{self.prefix}:keepalive"

    @property
    def handoff(self) -> str:
        return f"{self.prefix}:handoff"

    @property
    def procs(self) -> str:
        return f"{self.prefix}:procs"

    def proc(self, proc_id: str) -> str:
        return f"{self.prefix}:proc:{proc_id}"

    def keyspace_channels(self, db: int) -> list[str]:
        """Channels that carry keyspace notifications for the state and info keys.

        They only carry messages when the server has ``notify-keyspace-events`` set
        (for example ``K$gh``); gatekeeper subscribes either way and never changes the
        server's configuration.
        """
        return [f"__keyspace@{db}__:{self.state}", f"__keyspace@{db}__:{self.info}"]
