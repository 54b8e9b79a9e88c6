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

KILL_SLACK = 0.25
"""Seconds after the SIGKILL during which a request can still go out on a kept-alive
connection of the killed process: until its closing reaches the client."""


def test_app_process_killed_while_holding_others_serve_and_drain_ends(
    serve: ServeFactory, redis_url: str, prefix: str, journal: Path
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    app = serve("gunicorn", redis_url, SLOW_SECONDS="6")
    load = steady_load(app)
    slow = steady_load(app, rate=1, seconds=1, path="/slow", writes_every=0)  # one request
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
    killed_epoch = time.time()
    out, err = runner.communicate(timeout=30)
    took = time.monotonic() - killed_at
    time.sleep(1.0)
    traffic = load.finish(30)
    samples = traffic.records + slow.finish(30).records
    killed = traffic.clock(killed_epoch)
    assert runner.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert took < 10  # the dead process dropped out of the drain before its timeout
    assert summary["undrained"] == []
    result = audit(samples, journal)
    # Requests inside the killed process die with it (connection reset); nothing else may.
    # Open-loop arrivals keep coming during the hold, so more than the held ones reported
    # before the kill can be inside it: every one lost was in flight at the kill, though
    # (sent before it, or within the moment the dead process's connections took to close).
    in_flight = [s for s in traffic.records if s.scheduled < killed and (s.end or 0) > killed]
    assert all(s.status == 0 and s.error in ("reset", "eof") for s in result.lost)
    assert all(s.scheduled < killed + KILL_SLACK for s in result.lost), result.lost[:5]
    assert result.processed_twice == []
    assert result.rejected_but_processed == []
    assert result.answered > 100
    assert samples
    answered = [traffic.epoch(s.end) for s in traffic.records if s.status == 200 and s.end]
    assert max(answered) > time.time() - 2
    print(
        f"\nprocess killed while holding: {result.summary()} (lost on the killed "
        f"process: {len(result.lost)} of {len(in_flight)} in flight, {killed_held} held there "
        f"as last reported); drain ended {took:.1f}s after"
    )
