"""Small helpers shared by tests: polling with a deadline instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import redis

from gatekeeper.state.keys import Keys

T = TypeVar("T")

# The least-privilege ACL the README gives (with {prefix} for its prefix): keep the two
# the same. tests/state/test_acl.py and test_ha_watcher.py run everything under it.
ACL_RULES = (
    "on >{password} resetkeys resetchannels ~{prefix}:* &{prefix}:* "
    "&__keyspace@*__:{prefix}:* -@all +@connection +get +set +del +mget +hset +hget "
    "+hgetall +pexpire +pttl +publish +subscribe +zadd +zrem +zrangebyscore "
    "+zremrangebyscore +eval +evalsha +script|load +multi +exec"
)


def wait_for(
    predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.002, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def set_state(r: redis.Redis, keys: Keys, state: str | None, **info: object) -> None:
    """Write the state (``None``: delete it) and any info fields, then PUBLISH, as an
    operator with redis-cli would."""
    if info:
        r.hset(keys.info, mapping=info)  # type: ignore[arg-type]
    if state is None:
        r.delete(keys.state)
    else:
        r.set(keys.state, state)
    r.publish(keys.events, "x")
