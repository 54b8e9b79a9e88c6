"""What the runner refuses or warns about before it migrates, and a Redis blip mid-drain.

Gate processes here are real watchers in this test process, reporting to a real Redis;
the runner is a real ``python -m gatekeeper`` subprocess.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from gatekeeper import Gate, build_options
from gatekeeper.runner import command as child_module
from gatekeeper.runner.migration import run_migration
from gatekeeper.runner.options import RunOptions
from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer
from tests.support.helpers import wait_for
from tests.support.runner_support import start_runner


def live_gate(make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys) -> Gate:
    gate = make_gate(poll_interval=0.1)
    gate.watcher.wait_ready()
    wait_for(lambda: read_processes(r, keys), 3.0, what="the gate's first report")
    return gate


def finish(runner: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = runner.communicate(timeout=30)
    return runner.returncode, out, err


def test_fewer_live_processes_than_required_refuses_before_holding(
    make_gate: Callable[..., Gate], redis_url: str, prefix: str, r: redis.Redis, keys: Keys,
    tmp_path: Path,
) -> None:  # fmt: skip
    live_gate(make_gate, r, keys)
    ran = tmp_path / "ran"
    code, _, err = finish(
        start_runner(redis_url, prefix, ["--min-processes", "2", "--", "touch", str(ran)])
    )
    assert code == 3
    assert not ran.exists()
    assert r.exists(keys.state) == 0  # nothing was ever held
    assert r.exists(keys.lock) == 0
    assert "refusing to migrate: 1 live gate processes" in err
    assert "(at least 2)" in err
    assert f"prefix '{prefix}'" in err

    code, _, err = finish(
        start_runner(redis_url, prefix, ["--min-processes", "1", "--", "touch", str(ran)])
    )
    assert code == 0, err
    assert ran.exists()


def test_expected_host_without_a_live_process_refuses(
    make_gate: Callable[..., Gate], redis_url: str, prefix: str, r: redis.Redis, keys: Keys,
    tmp_path: Path,
) -> None:  # fmt: skip
    live_gate(make_gate, r, keys)
    here = socket.gethostname().split(".")[0]
    ran = tmp_path / "ran"
    args = ["--expect-host", here, "--expect-host", "web-elsewhere", "--", "touch", str(ran)]
    code, _, err = finish(start_runner(redis_url, prefix, args))
    assert code == 3
    assert "none on web-elsewhere" in err
    assert not ran.exists()
    code, _, err = finish(
        start_runner(redis_url, prefix, ["--expect-host", here, "--", "touch", str(ran)])
    )
    assert code == 0, err
    assert ran.exists()


def test_no_gate_process_at_all_warns_loudly_naming_where_it_looked(
    redis_url: str, prefix: str
) -> None:
    code, out, err = finish(start_runner(redis_url, prefix, ["--", "echo", "migrated"]))
    assert code == 0
    assert out.strip() == "migrated"
    assert "WARNING: no gate process reports to" in err
    assert redis_url in err
    assert f"prefix '{prefix}'" in err
    assert "--min-processes" in err


def test_live_gate_process_means_no_unprotected_warning(
    make_gate: Callable[..., Gate], redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    live_gate(make_gate, r, keys)
    code, _, err = finish(start_runner(redis_url, prefix, ["--", "true"]))
    assert code == 0, err
    assert "WARNING" not in err
    assert "draining 1 processes" in err


def test_redis_lost_during_drain_is_retried_and_the_run_completes(
    prefix: str, tmp_path: Path
) -> None:
    with RedisServer() as server:
        gate = Gate(
            build_options({"redis_url": server.url, "prefix": prefix, "poll_interval": 0.1})
        )
        keys = Keys(prefix)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            gate.watcher.wait_ready()
            wait_for(lambda: read_processes(client, keys), 3.0)
            gate.watcher.counters.enter(write=True)  # a request in the app: the drain waits
            ran, log = tmp_path / "ran", tmp_path / "runner.log"
            with log.open("w") as stderr:
                runner = start_runner(
                    server.url, prefix, ["--drain-timeout", "20", "--", "touch", str(ran)],
                    stderr=stderr,
                )  # fmt: skip
                wait_for(lambda: "draining 1 processes" in log.read_text(), 10.0)
                server.stop()
                wait_for(lambda: "drain: Redis error" in log.read_text(), 10.0)
                server.start()
                wait_for(lambda: client.get(keys.state) == "hold", 10.0, what="hold restored")
                gate.watcher.counters.leave(write=True)
                runner.wait(30)
            text = log.read_text()
            assert runner.returncode == 0, text
            assert ran.exists()
            assert text.count("drain: Redis error") == 1
            assert "drain timeout" not in text
            assert client.get(keys.state) == "open"
        finally:
            gate.watcher.close()
            client.close()


def test_signal_while_command_starts_is_still_forwarded(
    redis_url: str, keys: Keys, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forced interleaving: SIGTERM lands after the child exists but before the trap
    # knows it; without forwarding then, the migration would run its full 10 s.
    started = child_module.start_child

    def start_then_signal(argv: list[str]) -> subprocess.Popen[bytes]:
        child = started(argv)
        os.kill(os.getpid(), signal.SIGTERM)
        return child

    monkeypatch.setattr(child_module, "start_child", start_then_signal)
    client = redis.Redis.from_url(redis_url)
    opts = RunOptions(command=["sleep", "10"], ttl=1.0, drain_timeout=0)
    began = time.monotonic()
    result = run_migration(client, keys, opts, Progress(io.StringIO(), live=False))
    client.close()
    assert time.monotonic() - began < 5
    assert result.exit_code == 128 + signal.SIGTERM
    assert result.outcome == "interrupted"
    assert result.final_state == "open"  # --on-failure open, the default
    assert r.get(keys.state) == "open"
