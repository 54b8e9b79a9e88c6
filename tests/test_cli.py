"""The operator CLI, called as ``main(argv)`` against a real redis-server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import redis

from gatekeeper import Gate, Mode
from gatekeeper.cli import main
from gatekeeper.state.keys import Keys
from gatekeeper.testing import RedisServer, free_port
from tests.support.helpers import wait_for


@pytest.fixture
def cli(redis_url: str, prefix: str) -> Callable[..., int]:
    def run(*args: str) -> int:
        return main(["--redis-url", redis_url, "--prefix", prefix, *args])

    return run


def test_hold_sets_state_info_ttl_and_publishes(
    cli: Callable[..., int], r: redis.Redis, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    pubsub = r.pubsub()
    pubsub.subscribe(keys.events)
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"  # type: ignore[index]
    assert cli("hold", "--ttl", "30", "--message", "Back soon", "--retry-after", "20") == 0
    assert r.get(keys.state) == "hold"
    assert 0 < r.ttl(keys.state) <= 30
    info = r.hgetall(keys.info)
    assert info["message"] == "Back soon"
    assert info["retry_after"] == "20"
    assert "@" in info["owner"]
    assert float(info["since"]) <= time.time()
    assert pubsub.get_message(timeout=1)["data"] == "hold"  # type: ignore[index]
    assert capsys.readouterr().out.strip() == f"{keys.state} = hold (expires in 30s)"
    pubsub.close()


@pytest.mark.parametrize("mode", ["readonly", "maintenance"])
def test_other_modes_set_state_without_ttl(
    cli: Callable[..., int], r: redis.Redis, keys: Keys, mode: str
) -> None:
    assert cli(mode) == 0
    assert r.get(keys.state) == mode
    assert r.ttl(keys.state) == -1


def test_open_writes_open_and_clears_info(
    cli: Callable[..., int], r: redis.Redis, keys: Keys
) -> None:
    cli("maintenance", "--message", "x")
    assert cli("open") == 0
    assert r.get(keys.state) == "open"
    assert r.exists(keys.info) == 0


def test_max_hold_sets_hold_until(cli: Callable[..., int], r: redis.Redis, keys: Keys) -> None:
    cli("hold", "--max-hold", "5")
    assert abs(float(r.hget(keys.info, "hold_until") or 0) - (time.time() + 5)) < 2


def test_status_json_lists_live_processes(
    cli: Callable[..., int],
    make_gate: Callable[..., Gate],
    r: redis.Redis,
    keys: Keys,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = make_gate(poll_interval=0.1)
    gate.watcher.wait_ready()
    wait_for(lambda: r.exists(keys.proc(gate.watcher.proc_id)), 2.0)
    cli("hold", "--ttl", "10")
    capsys.readouterr()
    assert cli("status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "hold"
    assert status["mode"] == "hold"
    assert 0 < status["ttl"] <= 10
    assert [p["id"] for p in status["processes"]] == [gate.watcher.proc_id]
    assert cli("status") == 0
    text = capsys.readouterr().out
    assert "state:     hold" in text
    assert gate.watcher.proc_id in text


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        pytest.param(["frobnicate"], "invalid choice", id="unknown-subcommand"),
        pytest.param(["hold", "--ttl", "-1"], "must be >= 0.3 and <= 2592000", id="negative-ttl"),
        pytest.param(["hold", "--retry-after", "0"], "must be >= 1", id="zero-retry"),
        pytest.param(
            ["run-migration", "--retry-after", "0", "--", "true"], "must be >= 1", id="run-retry"
        ),
        pytest.param(["hold", "--message", "x" * 2001], "longer than 2000", id="long-message"),
        pytest.param(
            ["run-migration", "--min-processes", "-1", "--", "true"], "must be >= 0", id="min-procs"
        ),
        pytest.param(
            ["run-migration", "--expect-host", "a:b", "--", "true"], "not a host", id="host"
        ),
        pytest.param(["hold", "--retry-after", "soon"], "expected a number", id="text-retry"),
        pytest.param(["run-migration", "--mode", "nap", "--", "true"], "invalid choice", id="mode"),
        pytest.param(["run-migration", "true"], "needs '--'", id="missing-dashdash"),
        pytest.param(["run-migration", "--"], "needs '--'", id="empty-command"),
        pytest.param(["open", "--", "true"], "takes no COMMAND", id="command-for-open"),
        pytest.param(["--prefix", "a b", "status"], "option prefix", id="bad-prefix"),
        pytest.param(["--redis-url", "http://x", "status"], "not a Redis URL", id="bad-url"),
        pytest.param([], "required", id="nothing"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("gatekeeper: error: ")
    assert fragment in err


def test_unreachable_redis_is_one_line_without_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    assert main(["--redis-url", url, "hold"]) == 75  # EX_TEMPFAIL: try again later
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot reach Redis" in err
    assert "hunter2secret" not in err
    assert ":***@" in err


def test_password_protected_redis_works_and_password_never_printed(
    capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    with RedisServer(extra_args=("--requirepass", "s3cr3t-pw")) as server:
        url = f"redis://:s3cr3t-pw@127.0.0.1:{server.port}/0"
        assert main(["--redis-url", url, "--prefix", prefix, "maintenance"]) == 0
        assert main(["--redis-url", url, "--prefix", prefix, "status"]) == 0
        assert main(["--redis-url", url, "--prefix", prefix, "status", "--json"]) == 0
        wrong = url.replace("s3cr3t-pw", "wrong-pw")
        assert main(["--redis-url", wrong, "--prefix", prefix, "status"]) == 2  # fix the URL
    out, err = capsys.readouterr()
    assert "s3cr3t-pw" not in out + err
    assert "wrong-pw" not in out + err
    assert "maintenance" in out


def test_module_entry_point_runs(redis_url: str, prefix: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "run-migration" in done.stdout
    assert "``" not in done.stdout  # no reStructuredText from a docstring
    assert "75 try again later" in done.stdout


def test_redis_cli_commands_from_readme_drive_a_running_gate(
    make_gate: Callable[..., Gate], redis_server: RedisServer, prefix: str
) -> None:
    """The README's "Operating with redis-cli only" commands, with the real binary."""
    redis_cli = shutil.which("redis-cli")
    assert redis_cli, "redis-cli missing: scripts/setup.sh installs redis-tools"
    gate = make_gate(poll_interval=30)  # the poll must not be what makes these work
    gate.watcher.wait_ready()

    def run(*args: str) -> None:
        cmd = [redis_cli, "-h", "127.0.0.1", "-p", str(redis_server.port), *args]
        subprocess.run(cmd, check=True, capture_output=True)

    def mode_becomes(mode: Mode) -> None:
        wait_for(lambda: gate.watcher.snapshot.mode is mode, 0.5)  # type: ignore[union-attr]

    run("SET", f"{prefix}:state", "hold")
    run("PUBLISH", f"{prefix}:events", "x")
    mode_becomes(Mode.HOLD)
    run("HSET", f"{prefix}:info", "message", "Back at 10:05", "retry_after", "60")
    run("SET", f"{prefix}:state", "maintenance")
    run("PUBLISH", f"{prefix}:events", "x")
    mode_becomes(Mode.MAINTENANCE)
    assert gate.watcher.snapshot.message == "Back at 10:05"  # type: ignore[union-attr]
    run("DEL", f"{prefix}:state", f"{prefix}:info")
    run("PUBLISH", f"{prefix}:events", "x")
    mode_becomes(Mode.OPEN)


def test_redis_cli_handoff_commands_from_readme_drive_a_running_gate(
    make_gate: Callable[..., Gate], redis_server: RedisServer, prefix: str
) -> None:
    """The README's handoff rows, with the real binary: v1 hands off, v2 does not."""
    redis_cli = shutil.which("redis-cli")
    assert redis_cli, "redis-cli missing: scripts/setup.sh installs redis-tools"
    old = make_gate(poll_interval=30, release="v1")
    old.watcher.wait_ready()

    def run(*args: str) -> None:
        cmd = [redis_cli, "-h", "127.0.0.1", "-p", str(redis_server.port), *args]
        subprocess.run(cmd, check=True, capture_output=True)

    run("SET", f"{prefix}:handoff", "v2", "EX", "60")
    run("PUBLISH", f"{prefix}:events", "handoff")
    wait_for(lambda: old.watcher.snapshot.handoff, 0.5)  # type: ignore[union-attr]
    assert old.watcher.snapshot.closing  # type: ignore[union-attr]
    run("DEL", f"{prefix}:handoff")
    run("PUBLISH", f"{prefix}:events", "handoff")
    wait_for(lambda: not old.watcher.snapshot.handoff, 0.5)  # type: ignore[union-attr]
    assert old.watcher.snapshot.plain  # type: ignore[union-attr]
