"""Run settings (default and ``--quick``) and the context every section receives."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import redis

from gatekeeper.testing import RedisServer

__all__ = ["FULL", "QUICK", "Context", "Settings"]


@dataclass(frozen=True)
class Settings:
    name: str
    # 1. open path: rounds x seconds per variant, alternated; wrk -t2 -c32
    open_rounds: int
    open_seconds: int
    warmup_seconds: int
    # 2./4. release and memory: held requests per round, rounds per N (fresh server each)
    asgi_rounds: dict[int, int]
    wsgi_threads: int
    wsgi_rounds: int
    multi_workers: int
    multi_held: int
    multi_rounds: int
    # 3. propagation trials
    publish_trials: int
    set_trials: int
    # 5. runner overhead
    runner_rounds: int
    sleep_rounds: int
    # wrk -t -c of the open path
    load_threads: int = 2
    load_connections: int = 32
    # 5. runner: hold window minus command time, rounds per number of live processes
    window_rounds: int = 7
    # 6. burst after a release: rounds per (server, rate)
    burst_rounds: int = 2


FULL = Settings(
    name="full",
    open_rounds=7,
    open_seconds=2,
    warmup_seconds=1,
    asgi_rounds={100: 6, 1000: 5, 10000: 4},
    wsgi_threads=64,
    wsgi_rounds=8,
    multi_workers=4,
    multi_held=100,
    multi_rounds=20,
    publish_trials=60,
    set_trials=8,
    runner_rounds=5,
    sleep_rounds=2,
    window_rounds=7,
    burst_rounds=2,
)

QUICK = Settings(
    name="quick",
    open_rounds=3,
    open_seconds=1,
    warmup_seconds=1,
    asgi_rounds={100: 1, 1000: 1, 10000: 1},
    wsgi_threads=64,
    wsgi_rounds=2,
    multi_workers=4,
    multi_held=100,
    multi_rounds=4,
    publish_trials=12,
    set_trials=2,
    runner_rounds=3,
    sleep_rounds=1,
    window_rounds=2,
    burst_rounds=1,
)


@dataclass
class Context:
    """What a section needs: settings, the Redis server and a client."""

    settings: Settings
    redis_server: RedisServer
    started: float = field(default_factory=time.monotonic)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.client = redis.Redis.from_url(self.redis_server.url)

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def prefix(self, name: str) -> str:
        """A key prefix no earlier server of this run has used."""
        return f"bench-{name}-{next(self._ids)}"

    def env(self, prefix: str, variant: str = "gate", **extra: str) -> dict[str, str]:
        """Environment of a benchmark server using ``prefix`` in Redis."""
        return {
            "BENCH_VARIANT": variant,
            "BENCH_FLOOR_PREFIX": prefix,
            "GATEKEEPER_REDIS_URL": self.redis_server.url,
            "GATEKEEPER_PREFIX": prefix,
            **extra,
        }
