"""``gatekeeper watch`` as a command, against a real redis-server: ``--once`` through a
pipe, its exit statuses, ``--interval``'s check, and the loop riding out a Redis that
stops and comes back."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gatekeeper.cli import main
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import write_report
from gatekeeper.testing import RedisServer, free_port
from gatekeeper.watch import run_watch

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ROW = re.compile(
    r"^ {4}(?P<id>\S+)\s+pid=(?P<pid>\S+) mode=(?P<mode>\S+)\s+in-flight=(?P<inflight>\S+) "
    r"held=(?P<held>\S+)(?: longest-wait=(?P<wait>\S+))? heartbeat=(?P<beat>[\d.]+)s ago "
    r"gated/s=(?P<rate>\S+)"
)


def gatekeeper(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The real command in a child process, its stdout a pipe (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "gatekeeper", *args],
        capture_output=True, text=True, timeout=timeout, env=ENV, check=False,
    )  # fmt: skip


def write(r: redis.Redis, keys: Keys, proc_id: str, report: dict[str, object]) -> None:
    pipe = r.pipeline()
    write_report(pipe, keys, proc_id, report, 30)
    pipe.execute()


def test_once_through_a_pipe_prints_plain_lines_matching_the_reports(
    redis_url: str, prefix: str, keys: Keys, r: redis.Redis
) -> None:
    reports = {
        "web-1:4101:aaaaaa": {"pid": 4101, "host": "web-1", "release": "r7", "mode": "hold",
                              "inflight": 3, "inflight_writes": 1, "held": 5, "held_total": 9,
                              "longest_wait": 2.5},
        "web-2:4102:bbbbbb": {"pid": 4102, "host": "web-2", "release": "r7", "mode": "hold",
                              "inflight": 0, "held": 2, "held_total": 2},
    }  # fmt: skip
    for proc_id, report in reports.items():
        write(r, keys, proc_id, report)
    assert main(["--redis-url", redis_url, "--prefix", prefix, "hold", "--ttl", "40"]) == 0
    owner = r.hget(keys.info, "owner")
    done = gatekeeper("--redis-url", redis_url, "--prefix", prefix, "watch", "--once")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ---", lines[0])
    assert "\x1b" not in done.stdout  # not a terminal: no redraw, no colour
    state = next(line for line in lines if line.startswith("state:"))
    ttl = float(re.fullmatch(r"state:\s+hold \(expires in ([\d.]+)s\)", state)[1])  # type: ignore[index]
    assert 30 < ttl <= 40
    assert any(line.split() == ["owner:", owner] for line in lines)
    assert "lock:      none" in lines
    assert "processes: 2 on 2 hosts  gated/s=-" in lines
    assert "  web-1  release r7: 1" in lines
    rows = {m["id"]: m for m in map(ROW.match, lines) if m}
    assert set(rows) == set(reports)
    for proc_id, report in reports.items():
        row = rows[proc_id]
        assert row["pid"] == str(report["pid"])
        assert row["mode"] == "hold"
        assert row["inflight"] == f"{report['inflight']}" + (
            "(1w)" if "inflight_writes" in report else ""
        )
        assert row["held"] == str(report["held"])
        assert float(row["beat"]) < 10
        assert row["rate"] == "-"  # one frame: no delta yet
    assert rows["web-1:4101:aaaaaa"]["wait"] == "2.5s"
    assert rows["web-2:4102:bbbbbb"]["wait"] is None


def test_once_with_unreachable_redis_exits_75_with_one_line() -> None:
    url = f"redis://:watch-secret@127.0.0.1:{free_port()}/0"
    done = gatekeeper("--redis-url", url, "watch", "--once")
    assert done.returncode == 75
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("gatekeeper: error: cannot reach Redis at redis://:***@")
    assert "watch-secret" not in done.stderr


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0.05", "must be >= 0.1 and <= 60"), ("61", "must be >= 0.1 and <= 60"),
     ("soon", "expected a number")],
)  # fmt: skip
def test_bad_interval_exits_2_with_one_line(
    value: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", "--interval", value]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("gatekeeper: error: argument --interval: ")
    assert fragment in err


def test_watch_help_says_what_the_rate_counts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["watch", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "held, rejected or handed off per second" in text
    assert "the open path counts no requests" in text


def test_redis_that_stops_and_returns_is_shown_then_followed_again(prefix: str) -> None:
    keys = Keys(prefix)
    with RedisServer(extra_args=("--requirepass", "loop-secret")) as server:
        url = f"redis://:loop-secret@127.0.0.1:{server.port}/0"
        # One try per read: the operator client's retries would only make this slower.
        client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_timeout=2)
        client.set(keys.state, "maintenance")
        calls: list[float] = []

        def tick(delay: float) -> None:
            # Each refresh's pause: stop Redis after the first frame, bring it back
            # after the second, end the watch (as Ctrl-C does) after the third.
            calls.append(delay)
            if len(calls) == 1:
                server.stop()
            elif len(calls) == 2:
                server.start()
            else:
                raise KeyboardInterrupt

        out = io.StringIO()
        started = time.monotonic()
        code = run_watch(client, keys, url, interval=0.1, out=out, sleep=tick)
        client.close()
    assert code == 0
    assert time.monotonic() - started < 30
    blocks = out.getvalue().split("--- ")[1:]
    assert len(blocks) == 3
    assert "state:     maintenance" in blocks[0]
    assert "error:" not in blocks[0]
    assert f"error:     cannot reach Redis at redis://:***@127.0.0.1:{server.port}/0" in blocks[1]
    assert "state:     maintenance" in blocks[1]  # what was last read, marked as such
    assert "shown as read at" in blocks[1]
    assert "error:" not in blocks[2]
    assert "loop-secret" not in out.getvalue()


class Terminal(io.StringIO):
    """Output that says it is a terminal, as a pseudo-terminal's would."""

    def isatty(self) -> bool:
        return True


def test_terminal_with_rich_gets_its_view_and_plain_asks_for_lines(
    redis_url: str, prefix: str, keys: Keys, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.setenv("COLUMNS", "140")  # rich's width for output it cannot measure
    r.set(keys.state, "readonly")
    client = redis.Redis.from_url(redis_url)
    fancy, plain = Terminal(), Terminal()
    assert run_watch(client, keys, redis_url, once=True, out=fancy) == 0
    assert run_watch(client, keys, redis_url, once=True, plain=True, out=plain) == 0
    client.close()
    drawn = ANSI.sub("", fancy.getvalue())
    assert drawn != fancy.getvalue()  # styled, as on a terminal
    assert re.search(r"host +release +process +pid +mode +in-flight +held", drawn)
    assert re.search(r"state\s+readonly", drawn)
    assert "state:     readonly" in plain.getvalue()
    assert "in-flight " not in plain.getvalue()


def test_terminal_without_rich_falls_back_to_plain_lines(
    redis_url: str, prefix: str, keys: Keys, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TERM", raising=False)
    # As if rich were not installed: an import of it, or of any module of it (those
    # already loaded would be found first), raises ImportError.
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")] + ["rich"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "gatekeeper.watch._rich", raising=False)
    r.set(keys.state, "readonly")
    client = redis.Redis.from_url(redis_url)
    out = Terminal()
    assert run_watch(client, keys, redis_url, once=True, out=out) == 0
    client.close()
    assert "state:     readonly" in out.getvalue()


def test_cli_import_loads_neither_the_watch_nor_rich() -> None:
    code = (
        "import sys, gatekeeper.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'"
        " or m.startswith('gatekeeper.watch')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60,
        check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_plain_watch_into_a_closed_pipe_exits_quietly(redis_url: str, prefix: str) -> None:
    # `gatekeeper watch | head -1`: the reader leaves; no traceback, status 0.
    argv = [sys.executable, "-m", "gatekeeper", "--redis-url", redis_url, "--prefix", prefix,
            "watch", "--interval", "0.1"]  # fmt: skip
    watch = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    assert watch.stdout is not None
    first = watch.stdout.readline()
    watch.stdout.close()
    _, err = watch.communicate(timeout=30)
    assert first.startswith(b"--- ")
    assert watch.returncode == 0
    assert err == b""
