"""``gatekeeper run-migration`` end to end: real Redis, real servers, real HTTP traffic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.testing import RedisServer
from tests.support.helpers import wait_for
from tests.support.runner_support import failures, overlapping, start_runner
from tests.support.servers import Server, gunicorn, uvicorn
from tools.openloop import OpenLoopRun, start

ENV = {"GATEKEEPER_POLL_INTERVAL": "0.2", "GATEKEEPER_HOLD_TIMEOUT": "12"}


@pytest.fixture
def wsgi_server(redis_url: str, prefix: str) -> Iterator[Server]:
    env = {**ENV, "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    with gunicorn("tests.support.apps.plain_wsgi:app", {**env, "SLOW_SECONDS": "1.5"}) as server:
        yield server


def load_for(server: Server, rate: float = 50) -> OpenLoopRun:
    """Open-loop reads and writes (1 in 3), started; ``finish()`` ends them."""
    return start(f"{server.url}/", rate, 60, writes_every=3, path_read="/read",
                 path_write="/write")  # fmt: skip


def run_json(
    runner: subprocess.Popen[str], timeout: float = 30
) -> tuple[int, dict[str, object], str]:
    out, err = runner.communicate(timeout=timeout)
    return runner.returncode, json.loads(out.strip().splitlines()[-1]) if out.strip() else {}, err


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_migration_under_load_fails_no_request(kind: str, redis_url: str, prefix: str) -> None:
    env = {**ENV, "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    factory = (
        (lambda: gunicorn("tests.support.apps.plain_wsgi:app", env))
        if kind == "gunicorn"
        else (lambda: uvicorn("tests.support.apps.plain_asgi:app", env, workers=2))
    )
    with factory() as server:
        load = load_for(server)
        time.sleep(1.0)
        runner = start_runner(redis_url, prefix, ["--json", "--", "sleep", "3"])
        code, summary, err = run_json(runner)
        time.sleep(1.0)
        traffic = load.finish(30)
    samples = traffic.records
    assert code == 0, err
    assert failures(samples) == []
    release = float(summary["released_at"])  # type: ignore[arg-type]
    migrating = float(summary["migrate_started_at"])  # type: ignore[arg-type]
    # The arrivals go on through the hold: those of the 3 s migration were all held...
    held = overlapping(traffic, migrating, release)
    assert len(held) >= 100
    ended = [traffic.epoch(s.end) for s in held if s.end is not None]
    assert min(ended) >= release - 0.01  # ...and answered only once it was released
    first = overlapping(traffic, migrating, migrating + 0.5)
    assert all((s.latency or 0) > 2.0 for s in first)  # the early ones waited it out
    assert summary["outcome"] == "success"
    assert summary["final_state"] == "open"
    requests = summary["requests"]
    assert isinstance(requests, dict)
    assert requests["held"] >= 6
    assert requests["released"] == requests["held"]
    assert requests["rejected"] == 0
    last_answer = max(ended) - release
    assert last_answer < 0.5
    print(
        f"\n{kind}: {len(samples)} requests, 0 failed, {len(held)} held, longest "
        f"{max(s.latency or 0 for s in samples):.2f}s, release->last held answered "
        f"{last_answer * 1000:.1f} ms"
    )


def test_drain_waits_for_slow_request_before_command(
    wsgi_server: Server, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    with httpx.Client(base_url=wsgi_server.url, timeout=10) as client:
        client.get("/")  # the worker has read the state
        # One request, to the slow path.
        load = start(f"{wsgi_server.url}/slow", 1, 1, writes_every=0, timeout=10)
        time.sleep(0.3)  # the slow request is inside the app
        record_start = f"import time; open({str(marker)!r}, 'w').write(repr(time.time()))"
        runner = start_runner(
            redis_url, prefix, ["--json", "--", sys.executable, "-c", record_start]
        )
        code, summary, err = run_json(runner)
        traffic = load.finish(30)
    assert code == 0, err
    [slow] = traffic.records
    assert slow.status == 200
    assert slow.end is not None
    assert float(marker.read_text()) >= traffic.epoch(slow.end) - 0.05
    assert summary["undrained"] == []


def test_exit_status_passes_through_and_gate_opens(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    code, summary, _ = run_json(
        start_runner(redis_url, prefix, ["--json", "--", "sh", "-c", "exit 7"])
    )
    assert code == 7
    assert summary["outcome"] == "failed"
    assert summary["final_state"] == "open"
    assert r.get(keys.state) == "open"
    assert r.exists(keys.lock) == 0


def test_failure_policy_maintenance_leaves_503(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    args = ["--json", "--on-failure", "maintenance", "--message", "Failed, on it", "--", "false"]
    code, summary, _ = run_json(start_runner(redis_url, prefix, args))
    assert code == 1
    assert summary["final_state"] == "maintenance"
    assert r.get(keys.state) == "maintenance"
    assert r.ttl(keys.state) == -1
    assert r.hget(keys.info, "message") == "Failed, on it"


def test_overrun_turns_held_requests_into_503_with_retry_after(
    wsgi_server: Server, redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    httpx.get(wsgi_server.url + "/", timeout=5)
    runner = start_runner(
        redis_url, prefix, ["--json", "--max-hold", "1", "--retry-after", "7", "--", "sleep", "3"]
    )
    wait_for(lambda: r.get(keys.state) == "hold", 5.0)
    started = time.monotonic()
    held = httpx.get(wsgi_server.url + "/", headers={"Accept": "application/json"}, timeout=10)
    assert held.status_code == 503
    assert held.headers["retry-after"] == "7"
    assert time.monotonic() - started < 2.0  # answered at the overrun, not left hanging
    wait_for(lambda: r.get(keys.state) == "maintenance", 1.0)
    late = httpx.get(wsgi_server.url + "/", timeout=5)
    assert late.status_code == 503
    assert late.headers["retry-after"] == "7"
    code, summary, _ = run_json(runner)
    assert code == 0
    assert summary["overrun"] is True
    assert summary["final_state"] == "open"
    assert httpx.get(wsgi_server.url + "/", timeout=5).status_code == 200


def test_sigterm_forwards_to_command_and_opens(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    script = f"trap 'echo TERM >> {trace}; exit 143' TERM; sleep 30 & echo started > {trace}; wait"
    runner = start_runner(redis_url, prefix, ["--json", "--", "sh", "-c", script])
    wait_for(lambda: trace.exists(), 10.0)
    runner.send_signal(signal.SIGTERM)
    code, summary, _ = run_json(runner, timeout=10)
    assert code != 0
    assert summary["outcome"] == "interrupted"
    assert "TERM" in trace.read_text()
    assert r.get(keys.state) == "open"
    assert r.exists(keys.lock) == 0


def test_sigkill_leaves_site_held_at_most_one_ttl(
    wsgi_server: Server, redis_url: str, prefix: str, r: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    runner = start_runner(
        redis_url, prefix, ["--ttl", "1.5", "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"]
    )
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10.0)
        assert r.get(keys.state) == "hold"
        runner.kill()
        killed = time.monotonic()
        runner.wait(5)  # not communicate(): the orphaned child still holds the pipes
        wait_for(lambda: r.get(keys.state) is None, 3.0)
        # The lock is renewed just after the state, so it may outlive it by a moment.
        wait_for(lambda: r.exists(keys.lock) == 0, 1.0)
        assert time.monotonic() - killed <= 1.5 + 0.3
        assert httpx.get(wsgi_server.url + "/", timeout=5).status_code == 200
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        for pipe in (runner.stdout, runner.stderr):
            if pipe is not None:
                pipe.close()


def test_second_runner_refused_naming_holder(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    first = start_runner(redis_url, prefix, ["--", "sleep", "3"])
    try:
        wait_for(lambda: r.get(keys.lock) and r.get(keys.state) == "hold", 5.0)
        info_before = r.hgetall(keys.info)
        second = start_runner(redis_url, prefix, ["--", "echo", "should-not-run"])
        out, err = second.communicate(timeout=10)
        assert second.returncode == 75  # EX_TEMPFAIL: the lock is busy, try later
        assert "should-not-run" not in out
        assert err.count("\n") == 1
        assert "holds the lock" in err
        assert str(first.pid) in err
        assert r.hgetall(keys.info) == info_before
    finally:
        first.communicate(timeout=15)
    assert first.returncode == 0


def test_if_pending_with_nothing_pending_holds_nobody(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    pubsub = r.pubsub()
    pubsub.subscribe(keys.events)
    pubsub.get_message(timeout=1)
    code, summary, _ = run_json(
        start_runner(redis_url, prefix, ["--json", "--if-pending", "true", "--", "echo", "ran"])
    )
    assert code == 0
    assert summary["gated"] is False
    assert summary["pending"] is False
    assert pubsub.get_message(timeout=0.2) is None
    assert r.exists(keys.state) == 0
    pubsub.close()


def test_if_pending_with_pending_migration_holds(redis_url: str, prefix: str) -> None:
    code, summary, _ = run_json(
        start_runner(redis_url, prefix, ["--json", "--if-pending", "false", "--", "true"])
    )
    assert code == 0
    assert summary["gated"] is True
    assert summary["pending"] is True


def test_unreachable_redis_refuses_unless_allowed(prefix: str) -> None:
    url = "redis://127.0.0.1:1/0"
    refused = start_runner(url, prefix, ["--", "echo", "ran"])
    out, err = refused.communicate(timeout=10)
    assert refused.returncode == 75  # EX_TEMPFAIL
    assert "ran" not in out
    assert err.count("\n") == 1
    allowed = start_runner(url, prefix, ["--allow-ungated", "--", "echo", "ran"])
    out, _ = allowed.communicate(timeout=10)
    assert allowed.returncode == 0
    assert out.strip() == "ran"


def test_redis_restart_mid_migration_restores_hold(prefix: str) -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        keys = Keys(prefix)
        runner = start_runner(server.url, prefix, ["--json", "--ttl", "1.5", "--", "sleep", "4"])
        wait_for(lambda: client.get(keys.state) == "hold", 5.0)
        server.restart()  # empty again
        client = redis.Redis.from_url(server.url, decode_responses=True)
        restarted = time.monotonic()
        wait_for(lambda: client.get(keys.state) == "hold", 3.0)
        assert time.monotonic() - restarted < 1.5
        assert client.hget(keys.info, "generation")
        code, summary, err = run_json(runner)
        assert code == 0, err
        assert client.get(keys.state) == "open"
        assert any("lost the state" in note for note in summary["notes"])  # type: ignore[union-attr]
