"""``gatekeeper reload`` against a real redis-server, with real gate processes that report
in (``tests/support/apps/gate_process.py``) and leave, as app workers do across a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from gatekeeper.cli import main
from gatekeeper.runner.lease import HoldLease
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.support.helpers import wait_for
from tests.support.servers import ROOT

GateProcess = Callable[..., subprocess.Popen[str]]


def _env(redis_url: str, prefix: str, host: str, release: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_HOSTNAME": host,
        "GATEKEEPER_RELEASE": release,
        "GATEKEEPER_POLL_INTERVAL": "0.2",
    }


@pytest.fixture
def gate_process(redis_url: str, prefix: str) -> Iterator[GateProcess]:
    started: list[subprocess.Popen[str]] = []

    def start(host: str = "web-1", release: str = "v1") -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.apps.gate_process"],
            env=_env(redis_url, prefix, host, release),
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(5)


def _reload(redis_url: str, keys: Keys, *args: str) -> int:
    return main(["--redis-url", redis_url, "--prefix", keys.prefix, "reload", *args])


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    result: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


def test_reload_replacing_process_waits_for_new_release_then_restores_keepalive(
    gate_process: GateProcess,
    redis_url: str,
    prefix: str,
    keys: Keys,
    r: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = gate_process(release="v1")
    wait_for(lambda: len(read_processes(r, keys)) == 1, timeout=3)
    seen, pid_file = tmp_path / "seen", tmp_path / "new.pid"
    # COMMAND records the switch as it finds it, stops the old process and starts one of
    # the new release: what `kill -HUP <master>` does to a server's workers.
    script = (
        f"import os, redis, subprocess, sys\n"
        f"r = redis.Redis.from_url({redis_url!r})\n"
        f"open({str(seen)!r}, 'wb').write(r.get({keys.keepalive!r}) or b'')\n"
        f"os.kill({old.pid}, 15)\n"
        f"env = dict(os.environ, GATEKEEPER_RELEASE='v2', GATEKEEPER_HOSTNAME='web-1',\n"
        f"    GATEKEEPER_REDIS_URL={redis_url!r}, GATEKEEPER_PREFIX={prefix!r})\n"
        "p = subprocess.Popen([sys.executable, '-m', 'tests.support.apps.gate_process'],\n"
        "    env=env,\n"
        f"    stdout=subprocess.DEVNULL, start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    try:
        status = _reload(
            redis_url, keys, "--close-for", "0.2", "--await-release", "v2", "--timeout", "10",
            "--json", "--", sys.executable, "-c", script,
        )  # fmt: skip
        result = _json(capsys)
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert status == 0, result
    assert seen.read_bytes() == b"off"
    assert result["outcome"] == "success"
    assert result["acknowledged"] == 1
    assert result["releases"] == {"v2": ["web-1"]}
    assert r.get(keys.keepalive) is None
    assert r.get(keys.lock) is None
    assert old.wait(5) == 0  # left normally: its report was withdrawn, not expired


def test_reload_await_release_timeout_exits_3_naming_stragglers(
    gate_process: GateProcess,
    redis_url: str,
    keys: Keys,
    r: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = gate_process(release="v1")
    wait_for(lambda: len(read_processes(r, keys)) == 1, timeout=3)
    args = ("--close-for", "0", "--await-release", "v2", "--timeout", "0.5", "--json")
    assert _reload(redis_url, keys, *args, "--", "true") == 3
    result = _json(capsys)
    assert result["outcome"] == "release-timeout"
    assert result["command_status"] == 0
    stragglers = " ".join(map(str, result["stragglers"]))  # type: ignore[call-overload]
    assert f":{old.pid}:" in stragglers
    assert "from before COMMAND" in stragglers
    assert "web-1 (no new process yet)" in stragglers
    assert r.get(keys.keepalive) is None


def test_reload_named_host_without_processes_refuses_and_runs_nothing(
    gate_process: GateProcess,
    redis_url: str,
    keys: Keys,
    r: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate_process(host="web-1")
    ran = tmp_path / "ran"
    assert _reload(redis_url, keys, "--host", "web-9", "--", "touch", str(ran)) == 3
    assert "no live gate process on web-9" in capsys.readouterr().err
    assert not ran.exists()
    assert r.get(keys.keepalive) is None
    assert r.get(keys.lock) is None


def test_reload_on_one_host_turns_keepalive_off_there_only(
    gate_process: GateProcess,
    redis_url: str,
    keys: Keys,
    r: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate_process(host="web-1")
    gate_process(host="web-2")
    wait_for(lambda: len(read_processes(r, keys)) == 2, timeout=3)
    seen = tmp_path / "seen"
    # While COMMAND runs: the switch names web-2, and only web-2's process acknowledged.
    script = (
        f"import json, redis\n"
        f"r = redis.Redis.from_url({redis_url!r}, decode_responses=True)\n"
        f"ids = r.zrange({keys.procs!r}, 0, -1)\n"
        f"reports = [json.loads(r.get({keys.prefix!r} + ':proc:' + i)) for i in ids]\n"
        f"found = {{x['host']: x['keepalive'] for x in reports}}\n"
        f"open({str(seen)!r}, 'w').write(json.dumps([r.get({keys.keepalive!r}), found]))\n"
    )
    args = ("--host", "web-2", "--close-for", "0", "--timeout", "0.3", "--json")
    assert _reload(redis_url, keys, *args, "--", sys.executable, "-c", script) == 0
    result = _json(capsys)
    assert json.loads(seen.read_text()) == ["off:web-2", {"web-1": "on", "web-2": "off"}]
    assert result["acknowledged"] == 1
    assert result["outcome"] == "not-replaced"  # COMMAND restarted nothing: said, not fatal


def test_reload_failed_command_passes_status_and_restores_keepalive(
    gate_process: GateProcess,
    redis_url: str,
    keys: Keys,
    r: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate_process()
    assert _reload(redis_url, keys, "--close-for", "0", "--json", "--", "sh", "-c", "exit 4") == 4
    assert _json(capsys)["outcome"] == "failed"
    assert r.get(keys.keepalive) is None
    assert r.get(keys.lock) is None


def test_reload_while_deploy_holds_lock_exits_75(
    gate_process: GateProcess,
    redis_url: str,
    keys: Keys,
    r: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate_process()
    other = HoldLease(r, keys, token="someone@elsewhere:1", ttl=30, on_event=lambda k, d: None)
    other.acquire()
    ran = tmp_path / "ran"
    try:
        assert _reload(redis_url, keys, "--", "touch", str(ran)) == 75
    finally:
        other.release()
    assert "another deploy holds the lock: someone@elsewhere:1" in capsys.readouterr().err
    assert not ran.exists()
    assert r.get(keys.keepalive) is None


def test_unacknowledged_process_named_and_reload_goes_on(
    redis_url: str,
    keys: Keys,
    r: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A process of a gatekeeper that predates the switch: it reports, never acknowledges.
    r.set(keys.proc("web-1:1:old"), json.dumps({"pid": 1, "mode": "open"}), ex=30)
    r.zadd(keys.procs, {"web-1:1:old": time.time()})
    ran = tmp_path / "ran"
    args = ("--close-for", "0", "--timeout", "0.3", "--json")
    assert _reload(redis_url, keys, *args, "--", "touch", str(ran)) == 0
    result = _json(capsys)
    assert ran.exists()
    assert result["unacknowledged"] == ["web-1:1:old"]


def _start_reload(redis_url: str, prefix: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    return subprocess.Popen(
        [sys.executable, "-m", "gatekeeper", "reload", *args],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_line(process: subprocess.Popen[str], text: str) -> None:
    assert process.stderr is not None
    for _ in range(50):  # the reload prints a handful of lines before COMMAND
        line = process.stderr.readline()
        if text in line:
            return
        assert line, f"reload ended before {text!r}"
    raise AssertionError(f"{text!r} not printed")


def test_reload_killed_outright_leaves_keepalive_off_one_ttl_at_most(
    gate_process: GateProcess, redis_url: str, prefix: str, keys: Keys, r: redis.Redis
) -> None:
    watcher_host = gate_process()
    reload = _start_reload(redis_url, prefix, "--ttl", "1", "--close-for", "0", "--", "sleep", "30")
    try:
        _wait_line(reload, "running: sleep 30")
        assert r.get(keys.keepalive) == "off"
        assert 0 < r.pttl(keys.keepalive) <= 1000
        reload.kill()
        reload.wait(5)
        wait_for(lambda: r.get(keys.keepalive) is None, timeout=3)
    finally:
        if reload.poll() is None:
            reload.kill()
        subprocess.run(["pkill", "-f", "^sleep 30$"], check=False)
    assert watcher_host.poll() is None


def test_sigterm_to_reload_reaches_command_and_restores_keepalive(
    gate_process: GateProcess, redis_url: str, prefix: str, keys: Keys, r: redis.Redis
) -> None:
    gate_process()
    reload = _start_reload(redis_url, prefix, "--close-for", "0", "--", "sleep", "30")
    try:
        _wait_line(reload, "running: sleep 30")
        began = time.monotonic()
        reload.send_signal(signal.SIGTERM)
        assert reload.wait(5) == 128 + signal.SIGTERM
        assert time.monotonic() - began < 3  # COMMAND got the signal too: no 30 s wait
    finally:
        if reload.poll() is None:
            reload.kill()
    assert r.get(keys.keepalive) is None
    assert r.get(keys.lock) is None
