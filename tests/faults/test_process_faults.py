"""An app process killed while it holds requests."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.faults.audit import audit
from tests.faults.conftest import ServeFactory, steady_load
from tests.support.helpers import wait_for
from tests.support.runner_support import start_runner


def test_app_process_killed_while_holding_others_serve_and_drain_ends(
    serve: ServeFactory, redis_url: str, prefix: str, journal: Path
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    app = serve("gunicorn", redis_url, SLOW_SECONDS="6")
    load = steady_load(app, workers=8).start()
    slow = steady_load(app, workers=1, pause=30, first_number=10**6)
    slow.next_request = lambda n: ("GET", f"/slow/{n}", b"")
    slow.start()
    busy = wait_for(
        lambda: [r for r in read_processes(client, keys) if r.get("inflight", 0) >= 1],
        5.0,
        what="a process with the slow request in flight",
    )
    victim = int(busy[0]["pid"])
    runner = start_runner(
        redis_url, prefix, ["--json", "--drain-timeout", "10", "--", "sleep", "1"]
    )
    wait_for(lambda: client.get(keys.state) == "hold", 5.0)
    wait_for(lambda: any(r.get("held", 0) for r in read_processes(client, keys)), 5.0, what="held")
    before = {r["pid"]: r for r in read_processes(client, keys)}
    killed_held = int(before.get(victim, {}).get("held", 0)) + 1  # + the slow request
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    out, err = runner.communicate(timeout=30)
    took = time.monotonic() - killed_at
    time.sleep(1.0)
    samples = load.stop() + slow.stop(timeout=1)
    assert runner.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert took < 10  # the dead process dropped out of the drain before its timeout
    assert summary["undrained"] == []
    result = audit(samples, journal)
    # Requests inside the killed process die with it (connection reset); nothing else may.
    assert all(s.status == 0 for s in result.lost)
    assert len(result.lost) <= killed_held
    assert result.processed_twice == []
    assert result.rejected_but_processed == []
    assert result.answered > 100
    assert samples
    assert max(s.ended for s in samples if s.status == 200) > time.time() - 2
    print(
        f"\nprocess killed while holding: {result.summary()} (lost on the killed "
        f"process: {len(result.lost)} of at most {killed_held}); drain ended {took:.1f}s after"
    )
