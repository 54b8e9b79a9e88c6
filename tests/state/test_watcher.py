"""The watcher against a real redis-server: pub/sub, poll, keyspace events, failures."""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable

import pytest
import redis

from gatekeeper import Gate, Mode
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer, free_port
from tests.support.helpers import percentile, wait_for


def test_first_read_happens_before_first_decision(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    r.set(keys.state, "maintenance")
    gate = make_gate()
    assert gate.watcher.snapshot is None  # lazy: nothing started at construction
    snapshot = gate.watcher.wait_ready()
    assert snapshot.mode is Mode.MAINTENANCE


def test_publish_reaches_running_gate_within_50ms(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=30)
    gate.watcher.wait_ready()
    delays = []
    for i in range(30):
        mode = "hold" if i % 2 == 0 else "open"
        event = gate.watcher.thread_lot.ticket()
        r.set(keys.state, mode)
        started = time.perf_counter()
        r.publish(keys.events, "x")
        assert event.wait(2.0), "no wake-up after PUBLISH"
        delays.append(time.perf_counter() - started)
        assert gate.watcher.snapshot is not None
        assert gate.watcher.snapshot.mode.value == mode
    print(
        f"PUBLISH -> snapshot: median {statistics.median(delays) * 1000:.2f} ms, "
        f"p99 {percentile(delays, 99) * 1000:.2f} ms"
    )
    assert statistics.median(delays) < 0.05


def test_bare_set_reaches_gate_within_poll_interval(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=0.2)
    gate.watcher.wait_ready()
    r.set(keys.state, "hold")
    started = time.monotonic()
    wait_for(lambda: gate.watcher.snapshot and gate.watcher.snapshot.mode is Mode.HOLD, 2.0)
    assert time.monotonic() - started <= 0.2 + 0.15


def test_keyspace_notifications_make_bare_set_act_at_once(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    r.config_set("notify-keyspace-events", "K$gh")
    try:
        gate = make_gate(poll_interval=30)
        gate.watcher.wait_ready()
        wait_for(lambda: r.pubsub_numsub(f"__keyspace@0__:{keys.state}")[0][1] >= 1, 2.0)
        r.set(keys.state, "readonly")
        wait_for(lambda: gate.watcher.snapshot.mode is Mode.READONLY, 1.0)  # type: ignore[union-attr]
        r.delete(keys.state)
        wait_for(lambda: gate.watcher.snapshot.mode is Mode.OPEN, 1.0)  # type: ignore[union-attr]
    finally:
        r.config_set("notify-keyspace-events", "")


def test_unknown_state_value_logs_key_and_value_once_and_stays_open(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    r.set(keys.state, "maintenence")
    caplog.set_level(logging.ERROR, logger="gatekeeper")
    gate = make_gate(poll_interval=0.05)
    snapshot = gate.watcher.wait_ready()
    assert snapshot.mode is Mode.OPEN
    assert snapshot.source == "unknown"
    time.sleep(0.3)  # several polls: the error must still have been logged only once
    errors = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 1
    assert keys.state in errors[0]
    assert "'maintenence'" in errors[0]


def test_unknown_state_value_with_fail_closed_rejects(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    r.set(keys.state, "typo")
    gate = make_gate(fail_mode="closed")
    assert gate.watcher.wait_ready().mode is Mode.MAINTENANCE


def test_unreachable_redis_at_start_fails_open_quickly(make_gate: Callable[..., Gate]) -> None:
    gate = make_gate(redis_url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.2)
    started = time.monotonic()
    snapshot = gate.watcher.wait_ready()
    assert time.monotonic() - started < 1.0
    assert (snapshot.mode, snapshot.source) == (Mode.OPEN, "startup")


def test_unreachable_redis_at_start_with_fail_closed_is_maintenance(
    make_gate: Callable[..., Gate],
) -> None:
    gate = make_gate(redis_url=f"redis://127.0.0.1:{free_port()}/0", fail_mode="closed")
    assert gate.watcher.wait_ready().mode is Mode.MAINTENANCE


def test_redis_lost_keeps_state_then_fails_open_then_recovers(
    make_gate: Callable[..., Gate], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gatekeeper")
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        keys = Keys("lost")
        client.set(keys.state, "hold")
        gate = make_gate(redis_url=server.url, prefix="lost", stale_timeout=0.6, poll_interval=0.1)
        assert gate.watcher.wait_ready().mode is Mode.HOLD

        server.stop(kill=True)
        lost_at = time.monotonic()
        wait_for(lambda: gate.watcher.snapshot.source == "unreachable", 3.0)  # type: ignore[union-attr]
        assert time.monotonic() - lost_at >= 0.5  # kept the last known state first
        assert gate.watcher.snapshot.mode is Mode.OPEN  # type: ignore[union-attr]

        server.start()  # restarted empty, on the same port
        client = redis.Redis.from_url(server.url)
        client.set(keys.state, "maintenance")
        wait_for(lambda: gate.watcher.snapshot.mode is Mode.MAINTENANCE, 5.0)  # type: ignore[union-attr]
        # Resubscribed: a PUBLISH acts at once again.
        client.delete(keys.state)
        wait_for(lambda: client.pubsub_numsub(keys.events)[0][1] >= 1, 2.0)
        client.publish(keys.events, "x")
        wait_for(lambda: gate.watcher.snapshot.mode is Mode.OPEN, 0.5)  # type: ignore[union-attr]
        client.close()
        gate.watcher.close()

    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert sum("unreachable" in w for w in warnings) == 1  # one line per transition
    assert sum("reachable again" in w for w in warnings) == 1


def test_one_connection_each_for_pubsub_and_commands(
    make_gate: Callable[..., Gate], r: redis.Redis
) -> None:
    before = {c["id"] for c in r.client_list()}
    gates = [make_gate(), make_gate(), make_gate()]
    for gate in gates:
        gate.watcher.wait_ready()
    assert len({id(g.watcher) for g in gates}) == 1
    time.sleep(0.1)
    new = [c for c in r.client_list() if c["id"] not in before]
    assert len(new) == 2, new


def test_heartbeat_registers_process_and_acks_drained_hold(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=0.2)
    gate.watcher.wait_ready()
    raw = redis.Redis.from_url(gate.options.redis_url)
    reports = wait_for(lambda: read_processes(raw, keys), 2.0)
    assert reports[0]["pid"] > 0
    assert reports[0]["inflight"] == 0

    gate.watcher.counters.enter(write=True)  # a request inside the app
    r.hset(keys.info, mapping={"generation": "g1"})
    r.set(keys.state, "hold")
    r.publish(keys.events, "x")
    wait_for(lambda: read_processes(raw, keys)[0]["mode"] == "hold", 2.0)
    time.sleep(0.1)
    assert "drained" not in read_processes(raw, keys)[0]
    gate.watcher.counters.leave(write=True)
    report = wait_for(lambda: read_processes(raw, keys)[0].get("drained"), 1.0)
    assert report == "hold:g1"
    assert json.loads(r.get(keys.proc(read_processes(raw, keys)[0]["id"])) or "{}")["pid"] > 0
    raw.close()
