"""``gatekeeper watch`` in a real pseudo-terminal (tmux) against live gate processes:
two uvicorn workers, held by ``gatekeeper hold``, with requests waiting in the gate.

Set ``GATEKEEPER_WATCH_CAPTURE=/some/path`` to keep the screen the test read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.support.helpers import wait_for
from tests.support.servers import Server, uvicorn
from tests.watch.tmux import EXITED, Pane, capture_to

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
HELD = 4
MORE = 3


@pytest.fixture
def server(redis_url: str, prefix: str) -> Iterator[Server]:
    env = {
        "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2", "GATEKEEPER_HOLD_TIMEOUT": "60",
        "GATEKEEPER_RELEASE": "r-watch",
    }  # fmt: skip
    with uvicorn("tests.support.apps.plain_asgi:app", env, workers=2) as running:
        yield running


def gatekeeper(redis_url: str, prefix: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "--redis-url", redis_url, "--prefix", prefix, *args],
        env={**os.environ, "PYTHONPATH": PYTHONPATH}, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def table_rows(screen: str) -> dict[str, list[str]]:
    """The process table's rows by pid: each row's cells, split on runs of spaces."""
    rows = {}
    for line in screen.splitlines():
        cells = line.split()
        pids = [cell for cell in cells if cell.isdigit()]
        if re.search(r"\S+:\d+:[0-9a-f]{6}", line) and pids:
            rows[pids[0]] = cells
    return rows


def held_reports(r: redis.Redis, keys: Keys, held: int) -> dict[str, dict[str, object]]:
    """The reports by pid, once both processes report ``held`` requests between them."""
    wait_for(
        lambda: sum(int(p.get("held", 0)) for p in read_processes(r, keys)) == held,
        timeout=15, what=f"{held} requests held",
    )  # fmt: skip
    reports = {str(p["pid"]): p for p in read_processes(r, keys)}
    assert len(reports) == 2
    return reports


def shows(screen: str, reports: dict[str, dict[str, object]]) -> bool:
    """The state is hold, and each process's row has its pid, its held count, and a rate."""
    rows = table_rows(screen)
    if re.search(r"state\s+hold\s+expires in", screen) is None:
        return False
    for pid, report in reports.items():
        cells = rows.get(pid)
        if not cells or "hold" not in cells:
            return False
        mode = cells.index("hold")
        if cells[mode + 2] != str(report["held"]) or cells[mode + 6] == "-":
            return False
    return True


def spiked(screen: str) -> bool:
    """The total's sparkline has a sample above the bottom block."""
    found = re.search(r"gated/s [\d.]+\s+(\S+)", screen)
    return found is not None and set(found[1]) - {"▁"} != set()


def test_watch_in_a_terminal_shows_the_hold_and_exits_cleanly_on_ctrl_c(
    server: Server, redis_url: str, prefix: str, keys: Keys, r: redis.Redis, tmp_path: Path
) -> None:
    wait_for(lambda: len(read_processes(r, keys)) == 2, timeout=20, what="two workers reporting")
    gatekeeper(redis_url, prefix, "hold", "--ttl", "60")
    owner = r.hget(keys.info, "owner")
    assert owner
    wait_for(
        lambda: all(p.get("mode") == "hold" for p in read_processes(r, keys)),
        timeout=10, what="both workers holding",
    )  # fmt: skip
    answers: list[int] = []

    def held_request() -> None:
        answers.append(httpx.get(server.url + "/", timeout=60).status_code)

    threads = [threading.Thread(target=held_request) for _ in range(HELD + MORE)]
    pane: Pane | None = None
    try:
        for thread in threads[:HELD]:
            thread.start()
        reports = held_reports(r, keys, HELD)
        env = {**os.environ, "PYTHONPATH": PYTHONPATH, "PYTHONIOENCODING": "utf-8",
               "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}  # fmt: skip
        argv = [sys.executable, "-m", "gatekeeper", "watch", "--interval", "0.5"]
        pane = Pane(argv, env, tmp_path / "tmux.conf")
        screen = pane.wait_screen(
            lambda screen: shows(screen, reports), timeout=20, what="the hold and its counts"
        )
        ttl = float(re.search(r"expires in ([\d.]+)s", screen)[1])  # type: ignore[index]
        assert 0 < ttl <= 60
        assert re.search(rf"owner\s+{re.escape(owner)}", screen)
        assert "lock       none" in screen
        assert "processes  2 on 1 host" in screen
        assert "r-watch" in screen
        rows = table_rows(screen)
        assert set(rows) == set(reports)
        for pid, report in reports.items():
            cells = rows[pid]
            mode = cells.index("hold")
            # mode, in-flight, held: the held requests are inside the gate, not the app
            assert cells[mode + 1 : mode + 3] == [str(report["inflight"]), str(report["held"])]
            assert re.fullmatch(r"\d+\.\ds", cells[mode + 4])  # the heartbeat's age
            assert cells[mode + 5] == "ago"

        # More requests held while watching: the gated rate rises, then falls back.
        for thread in threads[HELD:]:
            thread.start()
        reports = held_reports(r, keys, HELD + MORE)
        screen = pane.wait_screen(
            lambda screen: shows(screen, reports) and spiked(screen), timeout=20,
            what="the new held counts and a spike in the total rate",
        )  # fmt: skip
        capture_to("GATEKEEPER_WATCH_CAPTURE", screen)
        assert pane.show("cursor_flag") == "0"  # rich hid it while drawing

        pane.send("C-c")
        after = pane.wait_screen(lambda s: EXITED in s, timeout=15, what="watch to exit")
        assert f"{EXITED}0]" in after
        assert "Traceback" not in after
        assert "KeyboardInterrupt" not in after
        assert pane.show("cursor_flag") == "1"  # and showed it again on the way out
        pane.send("Enter")  # bash's `read`: now it exits with the command's status
        status = pane.exit_status(timeout=10)
        assert status == "0"
    finally:
        if pane is not None:
            pane.close()
        r.set(keys.state, "open")
        r.publish(keys.events, "open")
        for thread in threads:
            thread.join(timeout=30)
    assert answers == [200] * (HELD + MORE)
