"""``run-migration --restart CMD --await-release R --handoff``: real redis-server, real gate
processes (``tests/support/apps/gate_process.py``) of two releases on two hosts, the runner run as
``python -m gatekeeper``. The restart starts processes of the new release the way a
server's master would: detached, outliving the restart command; the fixture stops them."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gatekeeper.cli import main
from gatekeeper.runner.options import RunOptions
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.support.helpers import wait_for
from tests.support.runner_support import start_runner
from tests.support.servers import ROOT

POLL = "0.1"
UNREACHABLE = "redis://127.0.0.1:1/0"


def _gate_env(redis_url: str, prefix: str, host: str, release: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_HOSTNAME": host,
        "GATEKEEPER_RELEASE": release,
        "GATEKEEPER_POLL_INTERVAL": POLL,
    }


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie nobody reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


class Fleet:
    """Gate processes and runners of one test; :meth:`close` stops every one of them."""

    def __init__(self, redis_url: str, prefix: str, r: redis.Redis, tmp_path: Path) -> None:
        self.redis_url, self.prefix, self.r, self.tmp_path = redis_url, prefix, r, tmp_path
        self.keys = Keys(prefix)
        self.children: list[subprocess.Popen[str]] = []
        self.pidfiles: list[Path] = []
        self.runners: list[subprocess.Popen[str]] = []

    def start(self, host: str, release: str) -> subprocess.Popen[str]:
        """A gate process of the test's own, once its report is in Redis."""
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.apps.gate_process"],
            env=_gate_env(self.redis_url, self.prefix, host, release),
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.children.append(process)
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        wait_for(lambda: self.report(pid=process.pid), 10, 0.01, f"{host} {release} reporting")
        return process

    def restart_command(self, host: str, release: str, *, until_reported: bool = False) -> str:
        """A ``--restart`` CMD that starts a gate process of ``release`` on ``host``, which
        outlives it (its own session, no inherited pipes). It returns at once, or with
        ``until_reported`` once that process reports in, as ``systemctl restart`` would."""
        pidfile = self.tmp_path / f"{host}-{release}-{len(self.pidfiles)}.pid"
        self.pidfiles.append(pidfile)
        own = {
            name: value
            for name, value in _gate_env(self.redis_url, self.prefix, host, release).items()
            if name == "PYTHONPATH" or name.startswith("GATEKEEPER_")
        }
        log = self.tmp_path / f"{pidfile.stem}.log"
        script = (
            "import os, subprocess, sys, time\n"
            f"env = dict(os.environ, **{own!r})\n"
            "p = subprocess.Popen([sys.executable, '-m', 'tests.support.apps.gate_process'],"
            " env=env,"
            f" cwd={str(ROOT)!r}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,"
            f" stderr=open({str(log)!r}, 'ab'), start_new_session=True)\n"
            f"open({str(pidfile)!r} + '.tmp', 'w').write(str(p.pid))\n"
            f"os.replace({str(pidfile)!r} + '.tmp', {str(pidfile)!r})\n"
        )
        if until_reported:
            script += (
                "import redis\n"
                f"r = redis.Redis.from_url({self.redis_url!r}, decode_responses=True)\n"
                f"mine = '{host}:%d:' % p.pid\n"
                "deadline = time.monotonic() + 20\n"
                f"procs = {self.keys.procs!r}\n"
                "while not any(i.startswith(mine) for i in r.zrange(procs, 0, -1)):\n"
                "    if p.poll() is not None or time.monotonic() > deadline:\n"
                "        sys.exit('the new process never reported in')\n"
                "    time.sleep(0.01)\n"
            )
        return shlex.join([sys.executable, "-c", script])

    def runner(self, *args: str) -> subprocess.Popen[str]:
        runner = start_runner(self.redis_url, self.prefix, args)
        self.runners.append(runner)
        return runner

    def reports(self, *, release: str | None = None, host: str | None = None) -> list[Any]:
        return [
            report
            for report in read_processes(self.r, self.keys)
            if (release is None or report.get("release") == release)
            and (host is None or report.get("host") == host)
        ]

    def report(self, *, pid: int) -> dict[str, Any] | None:
        return next((p for p in read_processes(self.r, self.keys) if p.get("pid") == pid), None)

    def close(self) -> None:
        for runner in self.runners:
            if runner.poll() is None:
                runner.kill()
            runner.communicate(timeout=10)
        pids = [int(f.read_text()) for f in self.pidfiles if f.exists()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 5
        for child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
            if child.stdout is not None:
                child.stdout.close()
        for pid in pids:
            while not _gone(pid) and time.monotonic() < deadline:
                time.sleep(0.02)  # not our child: nothing to wait on but /proc
            if not _gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def fleet(redis_url: str, prefix: str, r: redis.Redis, tmp_path: Path) -> Iterator[Fleet]:
    processes = Fleet(redis_url, prefix, r, tmp_path)
    try:
        yield processes
    finally:
        processes.close()


@pytest.fixture
def events(r: redis.Redis, keys: Keys) -> Iterator[Callable[[], list[str]]]:
    """Subscribed to ``<prefix>:events`` now; the call returns what was published since
    (call it once the run has ended: everything is in the socket by then)."""
    pubsub = r.pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(keys.events)
    confirmed = pubsub.get_message(timeout=5)
    assert confirmed is not None
    assert confirmed["type"] == "subscribe", confirmed

    def drain() -> list[str]:
        seen: list[str] = []
        while (message := pubsub.get_message(timeout=0.3)) is not None:
            assert message["type"] == "message", message
            seen.append(str(message["data"]))
        return seen

    yield drain
    pubsub.close()


def finish(runner: subprocess.Popen[str], timeout: float = 30) -> tuple[int, dict[str, Any], str]:
    out, err = runner.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    summary: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return runner.returncode, summary, err


def holds_throughout(check: Callable[[], object], seconds: float, what: str) -> None:
    """``check`` stays true, polled, for ``seconds``: a window observed, not slept."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), f"no longer {what}"
        time.sleep(0.02)


# -- --restart -------------------------------------------------------------------------


def test_restart_after_successful_command_runs_while_still_holding(
    fleet: Fleet, keys: Keys, r: redis.Redis, tmp_path: Path
) -> None:
    migrated, seen = tmp_path / "migrated", tmp_path / "seen"
    # The restart records what it finds: the hold (with its TTL), and COMMAND already done.
    script = (
        "import json, os, redis\n"
        f"r = redis.Redis.from_url({fleet.redis_url!r}, decode_responses=True)\n"
        f"found = [r.get({keys.state!r}), r.pttl({keys.state!r}) > 0,"
        f" os.path.exists({str(migrated)!r})]\n"
        f"open({str(seen)!r}, 'w').write(json.dumps(found))\n"
    )
    restart = shlex.join([sys.executable, "-c", script])
    runner = fleet.runner(
        "--json", "--ttl", "2", "--restart", restart, "--", "touch", str(migrated)
    )
    code, summary, err = finish(runner)
    assert code == 0, err
    assert json.loads(seen.read_text()) == ["hold", True, True]
    assert summary["outcome"] == "success"
    assert summary["restart_status"] == 0
    assert summary["final_state"] == "open"
    assert r.get(keys.state) == "open"
    assert r.exists(keys.lock, keys.handoff) == 0


def test_failed_command_never_runs_restart(
    fleet: Fleet, keys: Keys, r: redis.Redis, tmp_path: Path
) -> None:
    restarted = tmp_path / "restarted"
    runner = fleet.runner(
        "--json", "--ttl", "2", "--restart", f"touch {shlex.quote(str(restarted))}",
        "--await-release", "v2", "--", "sh", "-c", "exit 4",
    )  # fmt: skip
    code, summary, err = finish(runner)
    assert code == 4, err
    assert summary["outcome"] == "failed"
    assert summary["restart_status"] is None
    assert summary["release_ready_at"] == 0
    assert not restarted.exists()
    assert r.get(keys.state) == "open"


@pytest.mark.parametrize(
    ("on_failure", "final"),
    [pytest.param(None, "open", id="default-open"), ("maintenance", "maintenance")],
)
def test_failed_restart_exits_with_its_status_and_applies_on_failure(
    on_failure: str | None,
    final: str,
    fleet: Fleet,
    keys: Keys,
    r: redis.Redis,
    events: Callable[[], list[str]],
) -> None:
    policy = ["--on-failure", on_failure] if on_failure else []
    runner = fleet.runner(
        "--json", "--ttl", "2", *policy, "--restart", "sh -c 'exit 5'",
        "--await-release", "v2", "--handoff", "--", "true",
    )  # fmt: skip
    code, summary, err = finish(runner)
    assert code == 5, err
    assert summary["outcome"] == "restart-failed"
    assert summary["restart_status"] == 5
    assert summary["final_state"] == final
    assert summary["release_ready_at"] == 0  # no release wait after a failed restart...
    assert summary["handoff_ended_at"] == 0  # ...and no handoff
    assert r.get(keys.state) == final
    assert r.ttl(keys.state) == -1  # the run's final word: it does not expire
    assert r.exists(keys.handoff, keys.lock) == 0
    assert "handoff" not in events()


# -- --await-release -------------------------------------------------------------------


def test_await_release_opens_only_once_new_release_reports_on_every_host(
    fleet: Fleet, keys: Keys, r: redis.Redis
) -> None:
    fleet.start("alpha", "v1")
    fleet.start("beta", "v1")
    runner = fleet.runner(
        "--json", "--ttl", "1", "--restart", fleet.restart_command("alpha", "v2"),
        "--await-release", "v2", "--release-timeout", "30", "--", "true",
    )  # fmt: skip
    # The restart brought v2 up on alpha only: the run waits for beta, still holding,
    # for longer than the state's own TTL (the lease keeps renewing it).
    wait_for(lambda: fleet.reports(release="v2", host="alpha"), 15, 0.01, "v2 on alpha")
    holds_throughout(lambda: r.get(keys.state) == "hold" and runner.poll() is None, 1.5, "holding")
    beta_started = time.time()
    beta = fleet.start("beta", "v2")
    code, summary, err = finish(runner)
    assert code == 0, err
    assert summary["outcome"] == "success"
    assert summary["restart_status"] == 0
    assert summary["hosts"] == ["alpha", "beta"]
    assert summary["stragglers"] == []
    reported = fleet.report(pid=beta.pid)
    assert reported is not None
    assert summary["release_ready_at"] >= max(beta_started, reported["started"])
    assert summary["released_at"] >= summary["release_ready_at"]
    assert r.get(keys.state) == "open"
    assert r.exists(keys.handoff) == 0  # no --handoff: no handoff


def test_release_never_seen_on_a_host_times_out_exit_3_without_handoff(
    fleet: Fleet, keys: Keys, r: redis.Redis, events: Callable[[], list[str]]
) -> None:
    fleet.start("alpha", "v1")
    fleet.start("beta", "v1")
    # The restart returns once v2 is up on alpha: what the run cannot find is beta's.
    restart = fleet.restart_command("alpha", "v2", until_reported=True)
    runner = fleet.runner(
        "--json", "--ttl", "2", "--restart", restart,
        "--await-release", "v2", "--handoff", "--release-timeout", "1.5", "--", "true",
    )  # fmt: skip
    code, summary, err = finish(runner)
    assert code == 3, err
    assert summary["outcome"] == "release-timeout"
    assert summary["stragglers"] == ["beta"]  # alpha got its v2
    assert summary["restart_status"] == 0
    assert summary["release_ready_at"] == 0
    assert summary["released_at"] - summary["migrate_ended_at"] >= 1.5 * 0.9
    assert summary["final_state"] == "open"  # --on-failure's default
    assert r.get(keys.state) == "open"
    assert r.exists(keys.handoff, keys.lock) == 0
    assert "handoff" not in events()  # the key was never set: the Lua write publishes it


# -- --handoff -------------------------------------------------------------------------


def test_handoff_names_new_release_until_old_processes_leave_then_clears(
    fleet: Fleet, keys: Keys, r: redis.Redis, events: Callable[[], list[str]]
) -> None:
    old = fleet.start("alpha", "v1")
    runner = fleet.runner(
        "--json", "--ttl", "2", "--restart", fleet.restart_command("alpha", "v2"),
        "--await-release", "v2", "--handoff", "--release-timeout", "30", "--", "true",
    )  # fmt: skip
    wait_for(lambda: r.get(keys.state) == "open", 15, 0.01, "the open")
    assert r.get(keys.handoff) == "v2"
    assert 0 < r.pttl(keys.handoff) <= 2000
    # The v1 process stays: the run keeps the key alive beyond its TTL meanwhile.
    holds_throughout(
        lambda: (
            r.get(keys.state) == "open"
            and r.get(keys.handoff) == "v2"
            and 0 < r.pttl(keys.handoff) <= 2000
            and runner.poll() is None
        ),
        2.5,
        "handing off to v2",
    )
    old.terminate()
    assert old.wait(5) == 0  # left normally: its report is withdrawn
    code, summary, err = finish(runner)
    assert code == 0, err
    assert summary["outcome"] == "success"
    assert summary["stragglers"] == []
    assert summary["final_state"] == "open"
    assert summary["handoff_ended_at"] >= summary["released_at"] >= summary["release_ready_at"]
    assert summary["requests"]["handed_off"] == 0  # nothing was sent to the v1 process
    assert r.exists(keys.handoff, keys.lock) == 0
    assert r.get(keys.state) == "open"
    published = events()
    # The open went out as "handoff" (never a bare "open"), the clearing as "handoff" too;
    # the lease may have re-published "hold" had Redis lost it: not asserted on.
    assert published[0] == "hold"
    assert [m for m in published if m != "hold"] == ["handoff", "handoff"], published


def test_old_processes_that_never_leave_end_handoff_after_timeout_naming_them(
    fleet: Fleet, keys: Keys, r: redis.Redis, events: Callable[[], list[str]]
) -> None:
    old = fleet.start("alpha", "v1")
    (old_report,) = fleet.reports(release="v1")
    restart = fleet.restart_command("alpha", "v2", until_reported=True)
    runner = fleet.runner(
        "--json", "--ttl", "1", "--restart", restart,
        "--await-release", "v2", "--handoff", "--release-timeout", "2", "--", "true",
    )  # fmt: skip
    code, summary, err = finish(runner)
    assert code == 0, err
    assert summary["outcome"] == "success"
    assert summary["stragglers"] == [old_report["id"]]
    assert summary["handoff_ended_at"] - summary["released_at"] >= 2 * 0.9
    assert r.exists(keys.handoff, keys.lock) == 0  # deleted, not left to expire
    assert r.get(keys.state) == "open"
    assert old.poll() is None  # still there: from now on it runs what reaches it
    assert [m for m in events() if m != "hold"] == ["handoff", "handoff"]


# -- argument errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["--handoff"], "--await-release", id="handoff-without-await"),
        pytest.param(["--restart", ""], "the command is empty", id="empty-restart"),
        pytest.param(["--restart", '"unclosed'], "cannot split", id="unclosed-quote"),
        pytest.param(["--restart", "   "], "the command is empty", id="blank-restart"),
        pytest.param(["--release-timeout", "-1"], "must be >= 0", id="negative-timeout"),
        pytest.param(["--await-release", "v 2"], "release", id="bad-release"),
    ],
)
def test_bad_handoff_arguments_exit_2_in_one_line_without_redis(
    args: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = tmp_path / "ran"
    argv = ["--redis-url", UNREACHABLE, "run-migration", *args, "--", "touch", str(ran)]
    assert main(argv) == 2  # not 75: Redis was never asked
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("gatekeeper: error: ")
    assert fragment in err
    assert not ran.exists()


def test_valid_handoff_arguments_go_on_to_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The control for the test above: the same URL, valid arguments, does reach Redis.
    ran = tmp_path / "ran"
    argv = [
        "--redis-url", UNREACHABLE, "run-migration", "--restart", "true",
        "--await-release", "v2", "--handoff", "--release-timeout", "1", "--", "touch", str(ran),
    ]  # fmt: skip
    assert main(argv) == 75
    assert "cannot reach Redis" in capsys.readouterr().err
    assert not ran.exists()


def test_run_options_with_handoff_but_no_release_are_refused() -> None:
    with pytest.raises(ValueError, match="--await-release"):
        RunOptions(command=["true"], handoff=True)


@pytest.mark.parametrize("command", ["run-migration", "reload"])
def test_empty_await_release_exits_2_rather_than_skipping_the_wait(
    command: str, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    argv = ["--redis-url", "redis://127.0.0.1:1/0", command,
            "--await-release", "", "--", "touch", str(ran)]  # fmt: skip
    assert main(argv) == 2  # before the fix: 75, accepted and on to Redis
    assert not ran.exists()
