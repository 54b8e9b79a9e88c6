"""Redis dies, restarts empty, is unreachable from the start, or is slow."""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer, free_port
from tests.faults.audit import audit, journal_entries
from tests.faults.conftest import KINDS, ServeFactory, steady_load
from tests.support.helpers import percentile, wait_for
from tests.support.runner_support import start_runner


def held_now(client: redis.Redis, keys: Keys) -> int:
    return sum(int(r.get("held", 0)) for r in read_processes(client, keys))


@pytest.mark.parametrize("kind", KINDS)
def test_redis_killed_while_requests_held_every_request_ends_cleanly(
    kind: str, serve: ServeFactory, journal: Path, prefix: str
) -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        keys = Keys(prefix)
        app = serve(kind, server.url, GATEKEEPER_STALE_TIMEOUT="1")
        load = steady_load(app)
        time.sleep(0.5)
        client.set(keys.state, "hold")
        client.publish(keys.events, "x")
        wait_for(lambda: held_now(client, keys) >= 6, 5.0, what="requests held")
        server.stop(kill=True)
        time.sleep(2.5)  # past stale_timeout: the gates fail open and release the held
        samples = load.finish(30).records
    result = audit(samples, journal)
    result.assert_clean()
    assert result.answered > 6
    print(f"\n{kind} redis killed while holding: {result.summary()}")


@pytest.mark.parametrize("kind", KINDS)
def test_redis_killed_while_open_latency_does_not_move(
    kind: str, serve: ServeFactory, journal: Path
) -> None:
    with RedisServer() as server:
        app = serve(kind, server.url)
        load = steady_load(app)
        time.sleep(1.5)
        killed_at = time.time()
        server.stop(kill=True)
        time.sleep(1.5)
        traffic = load.finish(30)
    samples = traffic.records
    result = audit(samples, journal)
    result.assert_clean()
    assert result.rejected == 0
    killed = traffic.clock(killed_at)
    before = [s.latency for s in samples if s.latency is not None and s.scheduled < killed]
    after = [s.latency for s in samples if s.latency is not None and s.scheduled >= killed]
    assert len(after) > 100
    p99_before, p99_after = percentile(before, 99), percentile(after, 99)
    print(
        f"\n{kind} redis killed while open: {result.summary()}; p50 "
        f"{statistics.median(before) * 1000:.1f} -> {statistics.median(after) * 1000:.1f} ms, "
        f"p99 {p99_before * 1000:.1f} -> {p99_after * 1000:.1f} ms"
    )
    assert p99_after < max(3 * p99_before, 0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_redis_unreachable_at_app_start_serves_every_request(
    kind: str, serve: ServeFactory, journal: Path
) -> None:
    app = serve(kind, f"redis://127.0.0.1:{free_port()}/0")
    load = steady_load(app)
    time.sleep(1.5)
    samples = load.finish(30).records
    result = audit(samples, journal)
    result.assert_clean()
    assert result.rejected == 0
    assert max(s.latency or 0 for s in samples) < 2.5  # at most one connect timeout, once


@pytest.mark.parametrize("kind", KINDS)
def test_redis_slow_does_not_slow_the_open_path(
    kind: str, serve: ServeFactory, journal: Path
) -> None:
    with RedisServer(extra_args=("--enable-debug-command", "local")) as server:
        app = serve(kind, server.url)
        load = steady_load(app)
        time.sleep(1.0)
        slow_from = time.time()
        sleeper = threading.Thread(
            target=lambda: redis.Redis.from_url(server.url).execute_command("DEBUG", "SLEEP", "2")
        )
        sleeper.start()
        sleeper.join()
        slow_until = time.time()
        time.sleep(0.5)
        traffic = load.finish(30)
    samples = traffic.records
    result = audit(samples, journal)
    result.assert_clean()
    slow = (traffic.clock(slow_from), traffic.clock(slow_until))
    during = [
        s.latency for s in samples if s.latency is not None and slow[0] <= s.scheduled < slow[1]
    ]
    assert len(during) > 50
    print(f"\n{kind} during DEBUG SLEEP: p99 {percentile(during, 99) * 1000:.1f} ms")
    assert percentile(during, 99) < 0.1


def test_redis_restarted_empty_mid_migration_lets_nothing_in_early(
    serve: ServeFactory, journal: Path, prefix: str
) -> None:
    with RedisServer() as server:
        app = serve("gunicorn", server.url)
        load = steady_load(app)
        time.sleep(0.5)
        runner = start_runner(server.url, prefix, ["--json", "--ttl", "1.5", "--", "sleep", "4"])
        client = redis.Redis.from_url(server.url, decode_responses=True)
        wait_for(lambda: client.get(f"{prefix}:state") == "hold", 5.0)
        time.sleep(0.5)
        server.restart()  # empty: the state, info, lock and reports are gone
        out, err = runner.communicate(timeout=30)
        time.sleep(0.5)
        samples = load.finish(30).records
    assert runner.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    result = audit(samples, journal)
    result.assert_clean()
    inside = [
        e for e in journal_entries(journal)
        if summary["migrate_started_at"] < e[2] < summary["released_at"] - 0.01
    ]  # fmt: skip
    assert inside == [], f"{len(inside)} requests reached the app during the migration"
    print(f"\nredis restarted mid-migration: {result.summary()}")
