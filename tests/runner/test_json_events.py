"""``run-migration --log-format json``: every stderr line an event, against real Redis and
a real gunicorn; no secret in any of them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer
from tests.support.helpers import wait_for
from tests.support.runner_support import start_runner
from tests.support.servers import Server, gunicorn

ENV = {"GATEKEEPER_POLL_INTERVAL": "0.2", "GATEKEEPER_HOLD_TIMEOUT": "20"}
PASSWORD = "s3cret-redis-pw-0123"
DB_SECRET = "hunter2"

# The migration: wait (with a deadline) until the test says a request is held.
WAIT_FOR_MARKER = """
import os, sys, time
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[1]):
    if time.monotonic() > deadline:
        sys.exit(9)
    time.sleep(0.01)
"""

# The migration of an overrun: wait until the runner has switched to maintenance.
WAIT_FOR_MAINTENANCE = """
import sys, time, redis
client, deadline = redis.Redis.from_url(sys.argv[1]), time.monotonic() + 20
while client.get(sys.argv[2]) != b"maintenance":
    if time.monotonic() > deadline:
        sys.exit(9)
    time.sleep(0.01)
"""


def events(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as JSON: one that does not parse fails the test."""
    lines = stderr.splitlines()
    assert lines, "no stderr at all"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


def finish(runner: subprocess.Popen[str]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    out, err = runner.communicate(timeout=60)
    assert out.count("\n") == 1, out  # stdout is the --json summary alone
    return runner.returncode, json.loads(out), events(err)


def the(found: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [event] = [e for e in found if e["event"] == name]
    return event


@pytest.fixture
def wsgi_server(redis_url: str, prefix: str) -> Iterator[Server]:
    env = {**ENV, "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    with gunicorn("tests.support.apps.plain_wsgi:app", env, workers=1) as server:
        yield server


def test_run_with_a_held_request_logs_phases_in_order_and_counts_match_summary(
    wsgi_server: Server, redis_url: str, prefix: str, r: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    assert httpx.get(wsgi_server.url + "/", timeout=10).status_code == 200  # watcher up
    marker = tmp_path / "held"
    runner = start_runner(
        redis_url, prefix,
        ["--log-format", "json", "--json", "--min-processes", "1",
         "--", sys.executable, "-c", WAIT_FOR_MARKER, str(marker)],
    )  # fmt: skip
    wait_for(lambda: r.get(keys.state) == "hold", 15.0, what="the hold")
    answers: list[int] = []
    request = threading.Thread(
        target=lambda: answers.append(httpx.get(wsgi_server.url + "/", timeout=30).status_code)
    )
    request.start()
    wait_for(
        lambda: sum(int(p.get("held", 0)) for p in read_processes(r, keys)) >= 1,
        15.0, what="a held request",
    )  # fmt: skip
    marker.touch()
    code, summary, found = finish(runner)
    request.join(30)

    assert code == 0, found
    assert answers == [200]
    names = [e["event"] for e in found]
    main = ["runner.locked", "runner.holding", "runner.drained", "runner.migrating"]
    assert [n for n in names if n in {*main, "runner.released"}] == [*main, "runner.released"]
    assert all(e["logger"] == "gatekeeper" and e["ts"].endswith("Z") for e in found)
    released = the(found, "runner.released")
    requests = summary["requests"]
    assert requests["held"] >= 1
    for name in ("held", "released", "rejected", "handed_off"):
        assert released[name] == requests[name], name
    for name in ("final_state", "outcome", "exit_code", "held_seconds", "overrun"):
        assert released[name] == summary[name], name
    assert released["level"] == "info"
    # Gates that do not report longest_wait: null in the event, absent from the summary.
    assert "longest_wait_seconds" in released
    known = released["longest_wait_seconds"] is not None
    assert ("longest_wait_seconds" in summary) is known
    drained = the(found, "runner.drained")
    assert (drained["processes"], drained["complete"]) == (1, True)
    assert drained["hosts"] == summary["hosts"]
    holding = the(found, "runner.holding")
    assert (holding["mode"], holding["ttl_seconds"]) == ("hold", 6.0)
    locked = the(found, "runner.locked")
    assert "@" in locked["owner"]  # user@host:pid:random, the lease's token
    assert locked["key"] == keys.lock


def test_overrun_with_small_max_hold_logs_runner_overrun_as_warning(
    redis_url: str, prefix: str, keys: Keys
) -> None:
    runner = start_runner(
        redis_url, prefix,
        ["--log-format", "json", "--json", "--max-hold", "0.3",
         "--", sys.executable, "-c", WAIT_FOR_MAINTENANCE, redis_url, keys.state],
    )  # fmt: skip
    code, summary, found = finish(runner)
    assert code == 0, found
    assert summary["overrun"] is True
    names = [e["event"] for e in found]
    assert names.index("runner.migrating") < names.index("runner.overrun")
    assert names.index("runner.overrun") < names.index("runner.released")
    overrun = the(found, "runner.overrun")
    assert overrun["level"] == "warning"
    assert overrun["max_hold_seconds"] == 0.3
    assert the(found, "runner.released")["overrun"] is True


@pytest.fixture(scope="module")
def password_redis() -> Iterator[RedisServer]:
    with RedisServer(extra_args=("--requirepass", PASSWORD)) as server:
        yield server


def test_password_url_and_command_credentials_appear_in_no_line(
    password_redis: RedisServer, prefix: str
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{password_redis.port}/0"
    db_url = f"postgres://user:{DB_SECRET}@db/x"
    runner = start_runner(
        url, prefix,
        ["--log-format", "json", "--json", "--if-pending", f"sh -c 'exit 1' {db_url}",
         "--", sys.executable, "-c", "pass", db_url, "--password", DB_SECRET],
    )  # fmt: skip
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    found = events(err)
    for secret in (PASSWORD, DB_SECRET):
        assert secret not in err
        assert secret not in out
    command = the(found, "runner.migrating")["command"]
    assert "postgres://user:***@db/x" in command
    assert "--password '***'" in command
    assert "postgres://user:***@db/x" in the(found, "runner.checking_pending")["check"]
    assert ":***@127.0.0.1" in the(found, "runner.unprotected")["redis"]


def test_refused_password_gives_one_cli_error_json_line_without_it(
    password_redis: RedisServer, prefix: str
) -> None:
    url = f"redis://:wrong-{PASSWORD}@127.0.0.1:{password_redis.port}/0"
    runner = start_runner(url, prefix, ["--log-format", "json", "--", "true"])
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 2
    assert out == ""
    [line] = events(err)
    assert line["event"] == "cli.error"
    assert line["level"] == "error"
    assert line["exit_code"] == 2
    assert "AuthenticationError" in line["message"]
    assert PASSWORD not in err


def test_bad_log_format_in_environment_is_a_one_line_usage_error(
    redis_url: str, prefix: str
) -> None:
    argv = [sys.executable, "-m", "gatekeeper", "--redis-url", redis_url, "status"]
    env = {**os.environ, "GATEKEEPER_PREFIX": prefix}
    good = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False,
        env={**env, "GATEKEEPER_LOG_FORMAT": " JSON "},
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False,
        env={**env, "GATEKEEPER_LOG_FORMAT": "xml"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "gatekeeper: error: GATEKEEPER_LOG_FORMAT must be text or json, not 'xml'"
    ]


def test_progress_without_echo_writes_nothing_but_still_emits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=True, echo=False)
    caplog.set_level("INFO", logger="gatekeeper")
    progress.phase("migrating: x", "runner.migrating", command="x")
    progress.note("careful", "runner.drain_retry")
    progress.live_line("held now: 3")
    progress.close()
    assert stream.getvalue() == ""
    found = [(rec.gatekeeper_event, rec.getMessage()) for rec in caplog.records]  # type: ignore[attr-defined]
    assert found == [("runner.migrating", "migrating: x"), ("runner.drain_retry", "careful")]


def test_reload_logs_its_phases_in_order_and_ends_with_done(redis_url: str, prefix: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "reload", "--log-format", "json", "--json",
         "--close-for", "0", "--timeout", "5", "--", sys.executable, "-c", "pass"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    names = [e["event"] for e in events(done.stderr)]
    assert names == [
        "reload.unprotected", "reload.locked", "reload.keepalive_off", "reload.closing",
        "reload.restarting", "reload.waiting", "reload.replaced", "reload.keepalive_on",
        "reload.done",
    ]  # fmt: skip
    final = the(events(done.stderr), "reload.done")
    assert (final["outcome"], final["exit_code"]) == (summary["outcome"], 0)


def test_text_mode_overrun_prints_each_line_once_and_no_json(
    redis_url: str, prefix: str, keys: Keys, tmp_path: Path
) -> None:
    # A subprocess: outside pytest nothing handles the warning events but what the CLI
    # sets up, so a missing NullHandler would print them again through lastResort.
    script = tmp_path / "wait.py"  # a file: the "migrating" line shows COMMAND on one line
    script.write_text(WAIT_FOR_MAINTENANCE)
    runner = start_runner(
        redis_url, prefix,
        ["--max-hold", "0.3", "--", sys.executable, str(script), redis_url, keys.state],
    )  # fmt: skip
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    assert out == ""
    lines = err.splitlines()
    assert all(line.startswith("gatekeeper: ") for line in lines), lines
    assert sum("overrun: COMMAND still running after 0.3s" in line for line in lines) == 1
    assert sum("WARNING: no gate process reports" in line for line in lines) == 1
    assert [line.split("] ", 1)[1].split(" ")[0] for line in lines] == [
        "hold:", "WARNING:", "draining", "migrating:", "overrun:", "released",
    ]  # fmt: skip
    assert not any(line.lstrip().startswith("{") for line in lines)
