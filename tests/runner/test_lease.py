"""The runner's lease on a real redis-server: its lock, its writes and its heartbeat.

The races here are forced, not waited for: a renewal is started from a hook placed at the
exact point where the runner switches state, and the test checks what the renewal saw.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from gatekeeper.core.modes import Mode
from gatekeeper.exceptions import LockBusy
from gatekeeper.runner.command import SignalTrap
from gatekeeper.runner.lease import HoldLease
from gatekeeper.runner.migration import _Run
from gatekeeper.runner.options import RunOptions
from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.store import info_fields, set_mode, set_open
from gatekeeper.testing import RedisServer
from tests.support.helpers import wait_for


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


class RecordingLease(HoldLease):
    """A lease that keeps the events it reports, as the runner's notes do."""

    def __init__(
        self, client: redis.Redis, keys: Keys, ttl: float = 3.0, token: str = "t1"
    ) -> None:
        self.events: list[tuple[str, str]] = []
        super().__init__(
            client, keys, token=token, ttl=ttl, on_event=lambda k, d: self.events.append((k, d))
        )


def quiet_run(client: redis.Redis, keys: Keys, opts: RunOptions) -> tuple[_Run, io.StringIO]:
    log = io.StringIO()
    return _Run(client, keys, opts, Progress(log, live=False), SignalTrap()), log


def test_renewal_racing_the_overrun_switch_keeps_maintenance_until_command_ends(
    client: redis.Redis, redis_url: str, keys: Keys, r: redis.Redis
) -> None:
    # The migration checks, at its end, that the site is still in maintenance: with the
    # race lost, the lease stopped renewing and the state expired under it.
    check = f'sleep 1.5; test "$(redis-cli -u {redis_url} GET {keys.state})" = maintenance'
    opts = RunOptions(command=["sh", "-c", check], ttl=0.6, max_hold=0.3, drain_timeout=0)
    run, log = quiet_run(client, keys, opts)
    original = run.lease.track
    racers: list[threading.Thread] = []

    def track_with_renewal_first(mode: Mode, fields: dict[str, str]) -> None:
        # The interleaving of the bug: the new state is in Redis, the lease not yet told,
        # and the heartbeat thread renews right then.
        if mode is Mode.MAINTENANCE and not racers:
            racer = threading.Thread(target=run.lease.renew_once)
            racers.append(racer)
            racer.start()
            racer.join(0.5)  # returns at once without the fix; blocks on the lease with it
        original(mode, fields)

    run.lease.track = track_with_renewal_first  # type: ignore[method-assign]
    result = run.run()
    for racer in racers:
        racer.join(5)
    assert racers, "the runner never switched to maintenance"
    assert run.lease.overridden is None, log.getvalue()
    assert result.exit_code == 0, log.getvalue()  # the check inside the command passed
    assert result.overrun is True
    assert result.final_state == "open"
    assert "operator" not in log.getvalue()
    assert r.get(keys.state) == "open"


def test_lease_write_and_track_are_one_step_for_a_renewal(
    client: redis.Redis, keys: Keys, r: redis.Redis
) -> None:
    lease = RecordingLease(client, keys)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(generation="g1"), ttl=3.0)
    lease.write(Mode.MAINTENANCE, info_fields(message="later", generation="g1"), ttl=3.0)
    r.delete(keys.state)  # Redis lost it: the renewal restores what was last written
    lease.renew_once()
    assert r.get(keys.state) == "maintenance"
    assert r.hget(keys.info, "message") == "later"
    assert lease.overridden is None
    assert lease.events == [("restored", "maintenance")]
    lease.release()


def test_operator_write_before_the_switch_is_never_overwritten(
    client: redis.Redis, keys: Keys, r: redis.Redis
) -> None:
    lease = RecordingLease(client, keys)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(), ttl=3.0)
    set_open(client, keys)  # an operator, before the heartbeat has noticed
    assert lease.write(Mode.MAINTENANCE, info_fields(message="overrun"), ttl=3.0) is False
    assert r.get(keys.state) == "open"
    assert lease.overridden == "open"
    assert lease.events == [("overridden", "open")]
    lease.release()


def test_operator_setting_the_same_mode_mid_run_is_an_override(
    client: redis.Redis, keys: Keys, r: redis.Redis
) -> None:
    lease = RecordingLease(client, keys)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(generation="g1"), ttl=3.0)
    assert r.hget(keys.info, "owner") == "t1"
    set_mode(client, keys, Mode.HOLD, info_fields(message="holding by hand"))  # no TTL
    lease.renew_once()
    assert lease.overridden == "hold"
    assert lease.write(Mode.OPEN, {}, ttl=None) is False  # the run's end leaves it be
    assert r.get(keys.state) == "hold"
    assert r.hget(keys.info, "message") == "holding by hand"
    assert r.ttl(keys.state) == -1
    lease.release()


def test_renewal_after_operator_override_stops_and_leaves_state(
    client: redis.Redis, keys: Keys, r: redis.Redis
) -> None:
    lease = RecordingLease(client, keys)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(), ttl=3.0)
    set_mode(client, keys, Mode.MAINTENANCE, info_fields(message="by hand"))
    lease.renew_once()
    lease.renew_once()
    assert lease.overridden == "maintenance"
    assert lease.events == [("overridden", "maintenance")]
    assert r.get(keys.state) == "maintenance"
    assert r.ttl(keys.state) == -1  # the operator's state, untouched
    lease.release()


def test_renewal_extends_state_info_and_lock(
    client: redis.Redis, keys: Keys, r: redis.Redis
) -> None:
    lease = RecordingLease(client, keys, ttl=2.0)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(generation="g"), ttl=2.0)
    for key in (keys.state, keys.info, keys.lock):
        r.pexpire(key, 300)
    lease.renew_once()
    for key in (keys.state, keys.info, keys.lock):
        assert 1500 < r.pttl(key) <= 2000, key
    assert lease.events == []
    lease.release()
    assert r.exists(keys.lock) == 0


def test_second_lease_is_refused_naming_holder(client: redis.Redis, keys: Keys) -> None:
    first = RecordingLease(client, keys, token="alice@host:1")
    first.acquire()
    second = RecordingLease(client, keys, token="bob@host:2")
    with pytest.raises(LockBusy) as caught:
        second.acquire()
    assert caught.value.holder == "alice@host:1"
    assert caught.value.ttl is not None
    assert 0 < caught.value.ttl <= 3.0
    first.release()
    second.acquire()
    second.release()


def test_lock_lost_with_redis_restart_is_taken_back(
    client: redis.Redis, keys: Keys, r: redis.Redis
) -> None:
    lease = RecordingLease(client, keys)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(), ttl=3.0)
    r.delete(keys.lock)
    lease.renew_once()
    assert r.get(keys.lock) == "t1"
    assert lease.events == []
    r.set(keys.lock, "someone-else")
    lease.renew_once()
    assert lease.events == [("lock-lost", "")]
    assert r.get(keys.lock) == "someone-else"


def test_heartbeat_thread_renews_until_stopped(
    client: redis.Redis, keys: Keys, r: redis.Redis
) -> None:
    lease = RecordingLease(client, keys, ttl=0.6)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(), ttl=0.6)
    lease.start()
    try:
        # Three TTLs: alive only if renewed every ttl/3.
        deadline_hits = []
        for _ in range(3):
            wait_for(lambda: r.pttl(keys.state) > 450, timeout=1.0)
            deadline_hits.append(r.pttl(keys.state))
            r.pexpire(keys.state, 400)
        assert len(deadline_hits) == 3
    finally:
        lease.stop()
    assert lease.write(Mode.OPEN, {}, ttl=None) is True
    r.pexpire(keys.lock, 3000)
    assert r.get(keys.state) == "open"
    assert r.ttl(keys.state) == -1
    lease.release()


def test_no_renewal_writes_after_stop(client: redis.Redis, keys: Keys, r: redis.Redis) -> None:
    lease = RecordingLease(client, keys)
    lease.acquire()
    lease.write(Mode.HOLD, info_fields(), ttl=3.0)
    lease.stop()
    r.delete(keys.state)
    lease.renew_once()  # a heartbeat that was under way when the run ended
    assert r.get(keys.state) is None
    lease.release()


@contextmanager
def beating_lease(
    keys: Keys, ttl: float
) -> Iterator[tuple[RedisServer, redis.Redis, RecordingLease]]:
    """A lease holding the state on a Redis of its own, its heartbeat started."""
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        lease = RecordingLease(client, keys, ttl=ttl)
        lease.acquire()
        lease.write(Mode.HOLD, info_fields(), ttl=ttl)
        lease.start()
        try:
            yield server, client, lease
        finally:
            lease.stop()
            client.close()


def test_heartbeat_reports_redis_errors_once_and_recovery(keys: Keys) -> None:
    with beating_lease(keys, ttl=0.6) as (server, client, lease):
        server.stop()
        wait_for(lambda: ("redis-error", "ConnectionError") in lease.events, timeout=3)
        server.start()
        wait_for(lambda: ("redis-ok", "") in lease.events, timeout=5)
        wait_for(lambda: client.get(keys.state) == b"hold", timeout=2)
    kinds = [kind for kind, _ in lease.events]
    assert kinds.count("redis-error") == 1
    assert "restored" in kinds


def test_heartbeat_after_failed_renewal_retries_within_a_second(keys: Keys) -> None:
    # A 6 s TTL renews every 2 s. After a failed renewal the next try must come well
    # before that, or a failover would leave the new master without a renewal for a
    # third of the TTL (before the fix: 2 s later, beyond this test's 1 s).
    with beating_lease(keys, ttl=6.0) as (server, client, lease):
        server.stop()
        wait_for(lambda: ("redis-error", "ConnectionError") in lease.events, timeout=4)
        server.start()  # empty, as a new master may be: the state is restored
        wait_for(lambda: client.get(keys.state) == b"hold", timeout=1.0, what="a retry")
    assert ("redis-ok", "") in lease.events
