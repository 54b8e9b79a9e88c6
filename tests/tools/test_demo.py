"""The demo (``python -m examples.demo``, what scripts/demo.sh runs), end to end but small,
and its pure parts (the report, the timeline) on made-up inputs.

One whole run with a small seed (a migration of a second or two), whose report and SVG
are checked; one run interrupted mid-migration, which must leave nothing running.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from examples.demo.__main__ import shown
from examples.demo.report import (
    failure,
    hold_window,
    json_summary,
    reload_window,
    report_lines,
    summarize,
)
from examples.demo.services import demo_redis
from examples.demo.svg import render_svg
from gatekeeper.testing import RedisServer, free_port
from tests.support.servers import ROOT
from tools.openloop import Record, Result

SVG = "{http://www.w3.org/2000/svg}"
SEED = "6000"


def demo_env(redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    if redis_url:
        env["GATEKEEPER_REDIS_URL"] = redis_url
    return env


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(.*)$", output, re.MULTILINE)
    assert match, f"no {name!r} line in:\n{output}"
    return match.group(1)


def number(pattern: str, text: str) -> int:
    match = re.match(pattern, text)
    assert match, f"{pattern!r} does not match {text!r}"
    return int(match.group(1))


def svg_counts(path: Path) -> tuple[ET.Element, dict[str, int], int]:
    """The parsed SVG, its dots per group (release or "failed"), its handoff rings."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    groups = {
        str(g.get("data-group")): len(g.findall(f"{SVG}circle"))
        for g in root.findall(f"{SVG}g[@class='requests']")
    }
    rings = len(root.findall(f"{SVG}g[@class='handed-off']/{SVG}circle"))
    return root, groups, rings


def test_demo_runs_two_deploys_without_a_failed_request(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    out = tmp_path / "timeline.svg"
    done = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--out", str(out), "--seed-rows", SEED],
        cwd=ROOT, env=demo_env(redis_server.url), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    assert "(GATEKEEPER_REDIS_URL)" in output  # it used the Redis it was given

    sent = re.fullmatch(
        r"(\d+) \((\d+) reads, (\d+) writes\), none resent", field(output, "requests sent")
    )
    assert sent, output
    total, reads, writes = map(int, sent.groups())
    assert total == reads + writes
    assert writes > 50
    answered = {
        release: int(count)
        for count, release in re.findall(r"(\d+) by (\S+?)(?:,|$)", field(output, "answered"))
    }
    # Each release answered some (v1 before the deploys, v2 from the first, v3 from the
    # reload), and nothing went unanswered.
    assert set(answered) == {"v1", "v2", "v3"}, output
    assert sum(answered.values()) == total
    held = number(r"(\d+) arrived during the hold", field(output, "held"))
    assert held >= 100  # open loop at 100/s: every arrival of the hold waited for the open
    handed_off = number(r"(\d+) followed a redirect", field(output, "handed off"))
    assert handed_off > 0
    assert field(output, "failed") == "0 (expected 0)"
    assert number(r"(\d+) \(followed by one request\)", field(output, "most redirects")) >= 1
    assert re.match(r"\d+\.\d\d s from the hold to the open", field(output, "hold window"))
    assert re.match(r"\d+\.\d\d s ", field(output, "migration to open"))
    assert re.match(r"\d+\.\d\d s ", field(output, "open to last held"))
    reload = r"\d+\.\d\d s of keep-alive off \(HUP \d+\.\d\d s in\): \d+ requests arrived in it"
    assert re.fullmatch(reload + ", 0 failed", field(output, "reload window"))
    assert field(output, "writes in the db") == f"{writes} of {writes} (each exactly once)"
    assert field(output, "deploys") == "run-migration success, reload success"
    assert field(output, "timeline") == str(out)
    assert "OK: no request failed" in output

    root, groups, rings = svg_counts(out)
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text is not None
    assert f"{total} requests, 0 failed, {held} held, {handed_off} handed off" in title.text
    assert root.find(f"{SVG}rect[@class='hold']") is not None
    assert root.find(f"{SVG}rect[@class='reload']") is not None
    marks = {line.get("data-mark") for line in root.findall(f"{SVG}line[@class='marker']")}
    assert marks == {"migrate", "restart", "open", "HUP"}
    assert groups == {**answered, "none": 0, "failed": 0}
    assert rings == handed_off

    # Somebody else's Redis: the demo's keys are gone once it is done.
    with redis.Redis.from_url(redis_server.url) as client:
        assert list(client.scan_iter(match="gatekeeper-demo-*")) == []


def test_interrupted_demo_stops_everything_it_started(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "examples.demo", "--out", str(tmp_path / "x.svg"),
         "--seed-rows", SEED],
        cwd=ROOT, env=demo_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as in a terminal
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    stdout = demo.stdout

    def relay() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while not any("migrating:" in line for line in seen):
            assert time.monotonic() < deadline, "".join(seen)
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        # What Ctrl-C in a terminal does, mid-migration: SIGINT to the whole foreground
        # process group (the demo and any child that shares its group).
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(30) == 130
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.stderr is not None
    assert "interrupted" in demo.stderr.read()

    reader.join(10)  # the rest of the output, up to the end of the stream
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    # The runner was stopped through Redis still alive, so it could open the gate.
    assert "released (open)" in output, output
    ports = [
        int(match.group(1))
        for match in (
            re.search(r"redis://127\.0\.0\.1:(\d+)/", output),
            re.search(r"gunicorn on 127\.0\.0\.1:(\d+)", output),
        )
        if match
    ]
    assert len(ports) == 2, output
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    # Nothing it started survives: no process carries the demo's gate prefix (gunicorn,
    # the runner, migrate all got it through their environment).
    marker = f"GATEKEEPER_PREFIX=gatekeeper-demo-{demo.pid}".encode()
    survivors = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes():
                survivors.append(environ.parent.name)
        except OSError:
            continue
    assert survivors == []


def test_unreachable_redis_url_falls_back_to_a_throwaway_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    with demo_redis("gatekeeper-demo-test") as choice:
        assert "GATEKEEPER_REDIS_URL did not answer" in choice.description
        with redis.Redis.from_url(choice.url) as client:
            assert client.ping()
        url = choice.url
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # stopped on the way out


def test_a_redis_password_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    with RedisServer(extra_args=("--requirepass", "s3cret")) as server:
        url = f"redis://:s3cret@127.0.0.1:{server.port}/0"
        monkeypatch.setenv("GATEKEEPER_REDIS_URL", url)
        with demo_redis("gatekeeper-demo-test") as choice:
            assert choice.url == url  # it answered: the demo uses it
            assert "s3cret" not in choice.description
            assert choice.description.startswith(f"redis://:***@127.0.0.1:{server.port}/0 ")


# -- the pure parts, on made-up inputs ------------------------------------------------

T0 = 1_000_000.0
"""Epoch time the made-up traffic started."""
RUNNER: dict[str, Any] = {
    "gated": True, "outcome": "success", "started_at": T0 + 2.0,
    "migrate_started_at": T0 + 2.1, "migrate_ended_at": T0 + 4.0, "released_at": T0 + 4.5,
    "requests": {"held": 3, "handed_off": 2},
}  # fmt: skip
STAMPS = [
    (T0 + 6.0, "gatekeeper: 00:00:10 [  0.0s] keep-alive off on every host (2 processes)"),
    (T0 + 6.0, "gatekeeper: 00:00:10 [  0.0s] closing kept-alive connections for 2s"),
    (T0 + 8.0, "gatekeeper: 00:00:12 [  2.0s] running: sh -c 'echo v3 > RELEASE && kill -HUP 1'"),
    (T0 + 8.5, "gatekeeper: 00:00:12 [  2.5s] keep-alive back on"),
]


def rec(
    index: int, scheduled: float, end: float, status: int = 200, tag: str | None = "v1",
    method: str = "GET", redirects: int = 0, error: str | None = None,
) -> Record:  # fmt: skip
    request_id = f"demo-{index}" if method == "POST" else None
    return Record(
        index, method, request_id, scheduled, sent=scheduled, end=end, status=status,
        error=error, redirects=redirects, tag=tag,
    )  # fmt: skip


RECORDS = [
    rec(0, 1.0, 1.01),  # before the deploys, on v1
    rec(1, 2.5, 4.6, 201, "v2", "POST", redirects=1),  # held by v1, handed off to v2
    rec(2, 3.0, 4.8, 200, "v2", redirects=2),  # held, handed off twice: the last held answered
    rec(3, 4.2, 4.55, 200, "v2"),  # held by a new process: no redirect
    rec(4, 6.5, 6.51, 201, "v2", "POST"),  # in the reload
    rec(5, 7.0, 7.0, 0, None, error="reset"),  # in the reload, failed
    rec(6, 9.0, 9.01, 503, None),  # after, failed
    rec(7, 9.5, 9.51, 201, "v3", "POST"),
]


def made_up_summary(records: list[Record], stored: Counter[str]) -> Any:
    traffic = Result(records, connections_opened=1, duration_s=10.0, started_at=T0)
    return summarize(traffic, RUNNER, {"outcome": "success"}, reload_window(STAMPS, T0), stored)


def test_summary_counts_releases_holds_handoffs_failures_and_writes() -> None:
    s = made_up_summary(RECORDS, Counter({"demo-1": 1, "demo-4": 2, "note 3: hold": 1}))
    assert (s.sent, s.reads, s.writes) == (8, 5, 3)
    assert s.answered == {"v1": 1, "v2": 4, "v3": 1}
    assert (s.held, s.held_by_gate) == (3, 3)
    assert (s.handed_off, s.handed_off_by_gate, s.most_redirects) == (2, 2, 2)
    assert (s.failed, s.failures) == (2, {"reset": 1, "503": 1})
    assert s.end_to_open == pytest.approx(0.5)
    assert s.open_to_last_held == pytest.approx(0.3)
    assert (s.in_reload, s.failed_in_reload) == (2, 1)
    # demo-7 is missing, demo-4 is there twice.
    assert (s.writes_stored, s.writes_missing, s.writes_duplicated) == (2, 1, 1)
    assert not s.ok

    lines = report_lines(s)
    assert lines[0] == "requests sent:     8 (5 reads, 3 writes), none resent"
    assert lines[1] == "answered:          1 by v1, 4 by v2, 1 by v3"
    assert "failed:            2 (expected 0): 1 x 503, 1 x reset" in lines
    assert lines[6] == (
        "hold window:       2.50 s from the hold to the open (the migration 1.90 s of it)"
    )
    assert (
        "reload window:     2.50 s of keep-alive off (HUP 2.00 s in): 2 requests arrived in it,"
        " 1 failed"
    ) in lines
    assert "writes in the db:  2 of 3, 1 missing, 1 stored more than once" in lines


def test_summary_ok_only_without_failures_and_with_every_write_once() -> None:
    good = [r for r in RECORDS if failure(r) is None]
    s = made_up_summary(good, Counter({"demo-1": 1, "demo-4": 1, "demo-7": 1}))
    assert s.ok
    assert "writes in the db:  3 of 3 (each exactly once)" in report_lines(s)
    assert "deploys:           run-migration success, reload success" in report_lines(s)
    failed_deploy = summarize(
        Result(good, 1, 10.0, T0), RUNNER, {"outcome": "release-timeout"},
        reload_window(STAMPS, T0), Counter({"demo-1": 1, "demo-4": 1, "demo-7": 1}),
    )  # fmt: skip
    assert not failed_deploy.ok


def test_failure_is_an_error_or_a_final_status_outside_2xx_and_3xx() -> None:
    assert failure(rec(0, 0, 0, 200)) is None
    assert failure(rec(0, 0, 0, 307)) is None  # redirects ran out: not a failure by itself
    assert failure(rec(0, 0, 0, 500)) == "500"
    assert failure(rec(0, 0, 0, 0, error="timeout")) == "timeout"


def test_windows_from_the_runner_summary_and_the_reload_lines() -> None:
    hold = hold_window(RUNNER, T0)
    assert hold is not None
    assert [hold.start, hold.end] == pytest.approx([2.0, 4.5])
    assert [name for name, _ in hold.marks] == ["migrate", "restart", "open"]
    assert hold_window({"gated": False}, T0) is None
    reload = reload_window(STAMPS, T0)
    assert reload is not None
    assert [reload.start, reload.end, reload.mark("HUP")] == pytest.approx([6.0, 8.5, 8.0])
    assert [name for name, _ in reload.marks] == ["HUP"]
    assert reload_window(STAMPS[:3], T0) is None  # keep-alive never came back on


def test_json_summary_is_the_last_json_line() -> None:
    assert json_summary('Operations to perform:\n  Apply all\n{"outcome": "success"}\n') == {
        "outcome": "success"
    }
    with pytest.raises(ValueError, match="no JSON summary"):
        json_summary("Traceback (most recent call last):\n")


def test_timeline_draws_every_request_by_release_with_both_windows(tmp_path: Path) -> None:
    summary = made_up_summary(RECORDS, Counter())
    out = tmp_path / "timeline.svg"
    out.write_text(render_svg(RECORDS, summary))
    root, groups, rings = svg_counts(out)  # well-formed, or ET would have raised
    assert groups == {"v1": 1, "v2": 4, "v3": 1, "none": 0, "failed": 2}
    assert rings == 2
    marks = [line.get("data-mark") for line in root.findall(f"{SVG}line[@class='marker']")]
    assert marks == ["migrate", "restart", "open", "HUP"]
    labels = "".join(text.text or "" for text in root.iter(f"{SVG}text"))
    assert "hold 2.5 s" in labels
    assert "reload 2.5 s" in labels
    assert "handed off (2)" in labels


def test_commands_are_shown_as_typed() -> None:
    script = "sh -c 'echo v2 > RELEASE && kill -HUP 1'"
    assert shown(["run-migration", "--restart", script, "--handoff"]) == (
        f'run-migration --restart "{script}" --handoff'
    )
    assert shown(["--", "sh", "-c", "echo v3 > RELEASE"]) == "-- sh -c 'echo v3 > RELEASE'"
