"""The demo (``python -m examples.demo``, what scripts/demo.sh runs), end to end but small.

One whole run with a small seed (a migration of about a second), whose report and SVG
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
from pathlib import Path

import pytest
import redis
from examples.demo.services import demo_redis
from examples.demo.traffic import WRITERS

from gatekeeper.testing import RedisServer, free_port

from .servers import ROOT

SVG = "{http://www.w3.org/2000/svg}"
SEED = "2000"


def demo_env(redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    if redis_url:
        env["GATEKEEPER_REDIS_URL"] = redis_url
    return env


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(.*)$", output, re.MULTILINE)
    assert match, f"no {name!r} line in:\n{output}"
    return match.group(1)


def test_demo_runs_a_deploy_without_a_failed_request(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    out = tmp_path / "timeline.svg"
    done = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--out", str(out), "--seed-rows", SEED],
        cwd=ROOT, env=demo_env(redis_server.url), capture_output=True, text=True, timeout=90,
        check=False,
    )  # fmt: skip
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    assert "(GATEKEEPER_REDIS_URL)" in output  # it used the Redis it was given

    sent = re.fullmatch(r"(\d+) \((\d+) reads, (\d+) writes\)", field(output, "requests sent"))
    assert sent, output
    total, reads, writes = map(int, sent.groups())
    assert total == reads + writes
    assert reads > 50
    assert writes > 5
    # Writes from before the deploy to after it: answered before the hold, held through
    # the migration (every writer has one waiting), and answered after.
    phases = re.fullmatch(
        r"(\d+) before the hold, (\d+) held through the migration, (\d+) after the release",
        field(output, "writes"),
    )
    assert phases, output
    before, held_writes, after = map(int, phases.groups())
    assert before > 0
    assert held_writes >= WRITERS
    assert after > 0
    assert field(output, "failed") == "0 (expected 0)"
    held = re.fullmatch(r"(\d+) \(runner's count\), (\d+) \(samples .*\)", field(output, "held"))
    assert held, output
    assert int(held.group(1)) > 0
    assert int(held.group(2)) > 0
    assert re.fullmatch(r"\d+\.\d\d s", field(output, "longest hold"))
    assert re.match(r"\d+\.\d\d s \(released_at - started_at", field(output, "hold window"))
    assert field(output, "writes in the db") == f"{writes} of {writes} (each exactly once)"
    assert field(output, "timeline") == str(out)
    assert "OK: every request answered" in output

    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text is not None
    assert f"{total} requests, 0 failed" in title.text
    assert root.find(f"{SVG}rect[@class='hold']") is not None
    assert len(root.findall(f"{SVG}line[@class='marker']")) == 2
    dots = {
        kind: len(root.findall(f"{SVG}g[@class='{kind}']/{SVG}circle"))
        for kind in ("read", "write", "failed")
    }
    assert dots == {"read": reads, "write": writes, "failed": 0}

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
