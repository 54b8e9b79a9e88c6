"""The runner killed, overrunning, failing, or racing another runner, under live traffic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from gatekeeper.state.keys import Keys
from tests.faults.audit import audit
from tests.faults.conftest import ServeFactory, steady_load
from tests.support.helpers import wait_for
from tests.support.runner_support import start_runner


def read_until(stream: object, marker: str, timeout: float) -> None:
    """Read the runner's stderr line by line until a line contains ``marker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()  # type: ignore[attr-defined]
        if marker in line:
            return
        if not line:
            break
    raise AssertionError(f"runner never printed {marker!r}")


@pytest.mark.parametrize(
    ("phase", "marker"),
    [
        pytest.param("holding", "traffic gated", id="holding"),
        pytest.param("draining", "draining", id="draining"),
        pytest.param("migrating", "migrating:", id="migrating"),
    ],
)
def test_runner_sigkill_in_each_phase_site_recovers_within_ttl(
    phase: str,
    marker: str,
    serve: ServeFactory,
    redis_url: str,
    prefix: str,
    journal: Path,
    tmp_path: Path,
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    app = serve("gunicorn", redis_url, SLOW_SECONDS="2")
    load = steady_load(app)
    # A slow request every 5 s: the first keeps the drain busy.
    slow = steady_load(app, rate=0.2, path="/slow", writes_every=0)
    time.sleep(0.5)
    pidfile = tmp_path / "pid"
    runner = start_runner(
        redis_url, prefix, ["--ttl", "1.5", "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"]
    )
    try:
        read_until(runner.stderr, marker, 10)
        runner.kill()
        killed = time.monotonic()
        killed_epoch = time.time()
        runner.wait(5)
        wait_for(lambda: client.get(keys.state) is None, 3.0, what="state expired")
        # The lock is renewed just after the state, so it may outlive it by a moment.
        wait_for(lambda: client.exists(keys.lock) == 0, 1.0, what="lock expired")
        assert time.monotonic() - killed <= 1.5 + 0.3
        time.sleep(1.0)
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        for pipe in (runner.stdout, runner.stderr):
            if pipe is not None:
                pipe.close()
    traffic = load.finish(30)
    samples = traffic.records + slow.finish(30).records
    result = audit(samples, journal)
    result.assert_clean()
    # Served again once the state expired: requests sent well after the kill were answered.
    recovered = traffic.clock(killed_epoch + 2.0)
    assert [s for s in traffic.records if s.scheduled > recovered and s.status == 200] != []
    print(f"\nrunner SIGKILL while {phase}: {result.summary()}")


def test_migration_hanging_past_max_hold_turns_into_503_then_recovers(
    serve: ServeFactory, redis_url: str, prefix: str, journal: Path
) -> None:
    app = serve("uvicorn", redis_url)
    load = steady_load(app)
    time.sleep(0.5)
    runner = start_runner(
        redis_url, prefix, ["--json", "--max-hold", "1", "--retry-after", "5", "--", "sleep", "3"]
    )
    out, err = runner.communicate(timeout=30)
    time.sleep(0.5)
    samples = load.finish(30).records
    assert runner.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["overrun"] is True
    result = audit(samples, journal)
    result.assert_clean()
    assert result.rejected > 0  # the overrun answered 503 + Retry-After...
    assert all(s.tag == "5" for s in samples if s.status == 503)  # Retry-After
    assert all((s.latency or 0) < 2.5 for s in samples)  # ...instead of letting anyone hang
    assert samples[-1].status == 200
    print(f"\nmigration overrun: {result.summary()}")


@pytest.mark.parametrize("policy", ["open", "maintenance"])
def test_failed_migration_applies_policy_under_load(
    policy: str, serve: ServeFactory, redis_url: str, prefix: str, journal: Path
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    app = serve("gunicorn", redis_url)
    load = steady_load(app)
    time.sleep(0.5)
    runner = start_runner(
        redis_url, prefix, ["--on-failure", policy, "--", "sh", "-c", "sleep 1; exit 4"]
    )
    runner.communicate(timeout=30)
    time.sleep(0.7)
    samples = load.finish(30).records
    assert runner.returncode == 4
    assert client.get(f"{prefix}:state") == policy
    result = audit(samples, journal)
    result.assert_clean()
    if policy == "maintenance":
        assert samples[-1].status == 503
    else:
        assert samples[-1].status == 200
    print(f"\nfailed migration, --on-failure {policy}: {result.summary()}")


def test_two_runners_started_together_exactly_one_runs(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    command = ["--", "sh", "-c", f"echo $$ >> {ran}; sleep 1"]
    runners = [start_runner(redis_url, prefix, command) for _ in range(2)]
    results = [(r.wait(30), r.communicate()[1]) for r in runners]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 75]
    assert len(ran.read_text().split()) == 1
    refused = next(err for code, err in results if code == 75)
    assert "holds the lock" in refused


def test_runner_sigterm_while_draining_never_runs_command(
    serve: ServeFactory, redis_url: str, prefix: str, journal: Path, tmp_path: Path
) -> None:
    app = serve("gunicorn", redis_url, SLOW_SECONDS="2")
    slow = steady_load(app, rate=0.2, path="/slow", writes_every=0)  # the first in 5 s
    time.sleep(0.3)
    ran = tmp_path / "ran"
    runner = start_runner(redis_url, prefix, ["--json", "--", "touch", str(ran)])
    read_until(runner.stderr, "draining", 10)
    runner.send_signal(signal.SIGTERM)
    out, _ = runner.communicate(timeout=10)
    samples = slow.finish(30).records
    assert runner.returncode == 128 + signal.SIGTERM
    assert json.loads(out.strip().splitlines()[-1])["outcome"] == "interrupted"
    assert not ran.exists()
    audit(samples, journal).assert_clean()
    assert subprocess.run(["true"], check=False).returncode == 0
