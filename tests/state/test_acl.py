"""The least-privilege ACL user the README documents is enough for everything gatekeeper
does: the gate's watcher, every operator command, and a whole run-migration."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import redis

from gatekeeper import build_options
from gatekeeper.cli import main
from gatekeeper.core.modes import Mode
from gatekeeper.runner.migration import run_migration
from gatekeeper.runner.options import RunOptions
from gatekeeper.runner.progress import Progress
from gatekeeper.state._redis import operator_client
from gatekeeper.state.keys import Keys
from gatekeeper.state.watcher import StateWatcher
from gatekeeper.testing import RedisServer
from tests.support.helpers import ACL_RULES, wait_for


def test_least_privilege_user_runs_the_gate_the_cli_and_a_migration(
    redis_server: RedisServer, prefix: str
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    admin.execute_command(
        "ACL", "SETUSER", "gk", *ACL_RULES.format(password="pw", prefix=prefix).split()
    )
    url = f"redis://gk:pw@127.0.0.1:{redis_server.port}/0"
    watcher = StateWatcher(build_options({"redis_url": url, "prefix": prefix}))
    try:
        assert watcher.wait_ready().source == "redis"
        for mode in ("hold", "readonly", "maintenance", "open"):
            assert main(["--redis-url", url, "--prefix", prefix, mode]) == 0
            wait_for(lambda m=mode: watcher.snapshot and watcher.snapshot.mode is Mode(m), 3)  # type: ignore[misc]
        assert main(["--redis-url", url, "--prefix", prefix, "status", "--json"]) == 0
        client = operator_client(url, Keys(prefix).state)
        try:
            opts = RunOptions(command=["true"], ttl=3.0, drain_timeout=2.0)
            result = run_migration(client, Keys(prefix), opts, Progress(io.StringIO(), live=False))
        finally:
            client.close()
        assert (result.exit_code, result.final_state, result.processes) == (0, "open", 1)
        assert result.undrained == []
    finally:
        watcher.close()
        admin.execute_command("ACL", "DELUSER", "gk")
        admin.close()


def test_acl_without_keyspace_channels_watcher_listens_on_events_without_flapping(
    redis_server: RedisServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: every session failed on its SUBSCRIBE (NOPERM), logged "unreachable" and
    # reconnected, again and again; changes arrived only with each reconnection's read.
    admin = redis.Redis.from_url(redis_server.url)
    rules = ACL_RULES.replace("&__keyspace@*__:{prefix}:* ", "")
    admin.execute_command(
        "ACL", "SETUSER", "gk2", *rules.format(password="pw", prefix=prefix).split()
    )
    url = f"redis://gk2:pw@127.0.0.1:{redis_server.port}/0"
    caplog.set_level(logging.INFO, logger="gatekeeper")
    watcher = StateWatcher(build_options({"redis_url": url, "prefix": prefix, "poll_interval": 30}))
    try:
        watcher.wait_ready()
        for mode in ("hold", "open", "maintenance", "open"):
            assert main(["--redis-url", url, "--prefix", prefix, mode]) == 0
            # far sooner than the 30 s poll: the PUBLISH reached a live subscription
            wait_for(lambda m=mode: watcher.snapshot and watcher.snapshot.mode is Mode(m), 3)  # type: ignore[misc]
    finally:
        watcher.close()
        admin.execute_command("ACL", "DELUSER", "gk2")
        admin.close()
    assert caplog.text.count("refused the keyspace notification channels") == 1
    assert "unreachable" not in caplog.text


def test_readme_acl_line_is_the_one_tested() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    line = next(text for text in readme.splitlines() if text.startswith("ACL SETUSER gatekeeper "))
    expected = ACL_RULES.format(password="PASSWORD", prefix="gatekeeper")
    assert line.removeprefix("ACL SETUSER gatekeeper ") == expected
