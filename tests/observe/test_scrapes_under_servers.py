"""Issue 15: ``/metrics`` scraped from real multi-worker servers across a real migration.

gunicorn (gthread, 2 workers, the ``gatekeeper.contrib.gunicorn`` hooks) and uvicorn (2
workers) serve the gate with ``metrics=prometheus`` and ``PROMETHEUS_MULTIPROC_DIR``; a
scrape of either worker adds up both. ``gatekeeper run-migration`` holds real requests
while its command waits for a file, so the scrape during the hold is taken while they
are held. With ``GATEKEEPER_SCRAPE_CAPTURE`` set, the scrapes are written there.
"""

from __future__ import annotations

import json
import os
import signal
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
from tests.observe.scrape import fetch, outcomes, value
from tests.support.helpers import set_state, wait_for
from tests.support.runner_support import start_runner
from tests.support.servers import Server, gunicorn, uvicorn

HELD = 6


@pytest.fixture(params=["gunicorn", "uvicorn"])
def served(
    request: pytest.FixtureRequest, redis_url: str, prefix: str, tmp_path: Path, r: redis.Redis
) -> Iterator[Server]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_METRICS": "prometheus",
        "GATEKEEPER_METRICS_PATH": "/metrics",
        "GATEKEEPER_HOLD_TIMEOUT": "30",
        "GATEKEEPER_POLL_INTERVAL": "0.2",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    if request.param == "gunicorn":
        server = gunicorn("tests.support.apps.plain_wsgi:app", env, workers=2, hooks=True)
    else:
        server = uvicorn("tests.support.apps.plain_asgi:app", env, workers=2)
    with server:
        keys = Keys.for_url(prefix, redis_url)
        wait_for(lambda: len(read_processes(r, keys)) == 2, 20, 0.05, "both workers to report")
        yield server


def send_held(url: str, count: int) -> tuple[list[threading.Thread], list[object]]:
    """``count`` GETs, each on its own connection, answered (or failed) into the list."""
    answers: list[object] = []

    def one() -> None:
        try:
            answers.append(httpx.get(url + "/", timeout=40).status_code)
        except httpx.HTTPError as exc:
            answers.append(exc.__class__.__name__)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def scrape_when(url: str, name: str, expected: float, timeout: float = 15) -> str:
    """The first scrape in which ``name`` is ``expected`` (polled, with a deadline)."""

    def check() -> str:
        text = fetch(url)
        return text if value(text, name) == expected else ""

    return wait_for(check, timeout, 0.05, f"{name} to be {expected} in the scrape")


def capture(name: str, text: str) -> None:
    where = os.environ.get("GATEKEEPER_SCRAPE_CAPTURE")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        (Path(where) / name).write_text(text)


def test_a_held_migration_shows_in_the_scrape_and_adds_up_to_the_runners_counts(
    served: Server, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    before = fetch(served.url)
    assert value(before, "gatekeeper_redis_connected") == 1
    go = tmp_path / "go"
    waiter = (
        f"import os,time\nfor _ in range(600):\n"
        f"    if os.path.exists({str(go)!r}): break\n    time.sleep(0.05)"
    )
    runner = start_runner(
        redis_url, prefix, ["--json", "--max-hold", "25", "--", sys.executable, "-c", waiter]
    )
    try:
        wait_for(
            lambda: value(fetch(served.url), "gatekeeper_state", state="hold") == 1,
            15, 0.05, "the scrape to show the hold",
        )  # fmt: skip
        threads, answers = send_held(served.url, HELD)
        during = scrape_when(served.url, "gatekeeper_requests_held", HELD)
        capture(f"during-{Path(served.argv[0]).name}.txt", during)
        assert value(during, "gatekeeper_state", state="open") == 0
        go.touch()
        out, err = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    for thread in threads:
        thread.join(40)
    assert runner.returncode == 0, err
    assert answers == [200] * HELD
    requests = json.loads(out)["requests"]
    assert requests["held"] == HELD
    after = scrape_when(served.url, "gatekeeper_requests_held", 0)
    capture(f"after-{Path(served.argv[0]).name}.txt", after)
    wait_for(
        lambda: value(fetch(served.url), "gatekeeper_state", state="hold") == 0,
        5, 0.05, "the scrape to show the release",
    )  # fmt: skip
    held = value(after, "gatekeeper_hold_duration_seconds_count") - value(
        before, "gatekeeper_hold_duration_seconds_count"
    )
    ended = outcomes(after)
    assert held == requests["held"]
    assert ended.get("released", 0) == requests["released"] == HELD
    assert sum(n for name, n in ended.items() if name != "capacity") == requests["held"]
    assert value(after, "gatekeeper_rejected_total") == requests["rejected"] == 0
    # Every hold waited for the command: none within the smallest buckets.
    assert value(after, "gatekeeper_hold_duration_seconds_bucket", le="0.005") == 0


def test_a_killed_worker_drops_out_of_the_held_gauge_and_its_counts_stay(
    served: Server, redis_url: str, prefix: str, r: redis.Redis
) -> None:
    keys = Keys.for_url(prefix, redis_url)
    # Rounds of held-then-released requests until each worker has counts of its own to
    # keep (which worker accepts a connection is the kernel's choice).
    released = 0
    for _ in range(6):
        set_state(r, keys, "hold")
        wait_for(lambda: value(fetch(served.url), "gatekeeper_state", state="hold") == 1, 10, 0.05)
        threads, answers = send_held(served.url, HELD)
        wait_for(lambda: value(fetch(served.url), "gatekeeper_requests_held") == HELD, 15, 0.05)
        set_state(r, keys, "open")
        for thread in threads:
            thread.join(40)
        assert answers == [200] * HELD
        released += HELD
        wait_for(lambda: value(fetch(served.url), "gatekeeper_requests_held") == 0, 10, 0.05)

        def counted(released: int = released) -> list[dict[str, object]] | None:
            reports = read_processes(r, keys)
            total = sum(int(str(x["released_total"])) for x in reports)
            return reports if total == released else None

        reports = wait_for(counted, 10, 0.05, "the reports to count the round")
        if all(int(str(x["released_total"])) > 0 for x in reports):
            break
    assert all(int(str(x["released_total"])) > 0 for x in reports), reports
    # Then a round held while the worker holding the most is killed outright.
    set_state(r, keys, "hold")
    wait_for(lambda: value(fetch(served.url), "gatekeeper_state", state="hold") == 1, 10, 0.05)
    threads, answers = send_held(served.url, HELD)
    wait_for(lambda: value(fetch(served.url), "gatekeeper_requests_held") == HELD, 15, 0.05)

    def holding() -> list[dict[str, object]] | None:
        reports = read_processes(r, keys)  # written every poll_interval: may lag the gauge
        return reports if sum(int(str(x["held"])) for x in reports) == HELD else None

    reports = wait_for(holding, 10, 0.05, "the reports to count the held requests")
    victim = max(reports, key=lambda x: int(str(x["held"])))
    victim_held = int(str(victim["held"]))
    os.kill(int(victim["pid"]), signal.SIGKILL)
    seen: list[tuple[float, int]] = []

    def dropped() -> float | None:
        # Read afresh each time: the replacement may take up a request the killed worker
        # left in the shared listen queue. The new worker's first request clears the dead
        # one's files under uvicorn, the master's child_exit under gunicorn.
        live = [x for x in read_processes(r, keys) if x["pid"] != victim["pid"]]
        gauge = value(fetch(served.url), "gatekeeper_requests_held")
        seen.append((gauge, sum(int(x["held"]) for x in live)))
        return gauge if len(live) == 2 and gauge == seen[-1][1] else None

    try:
        left = wait_for(dropped, 30, 0.1, "the held gauge to drop the killed worker")
    except AssertionError:
        raise AssertionError(f"(gauge, live processes' held) seen: {seen[-5:]}") from None
    assert victim_held > 0
    assert left <= HELD - victim_held + 1
    scrape = fetch(served.url)
    assert outcomes(scrape).get("released", 0) == released  # the dead worker's included
    set_state(r, keys, "open")
    for thread in threads:
        thread.join(40)
    assert answers.count(200) >= left
    wait_for(lambda: value(fetch(served.url), "gatekeeper_requests_held") == 0, 10, 0.05)


def test_the_standalone_exporter_serves_the_workers_figures_and_stops_on_sigterm(
    served: Server, redis_url: str, prefix: str, r: redis.Redis, tmp_path: Path
) -> None:
    keys = Keys.for_url(prefix, redis_url)
    set_state(r, keys, "hold")
    wait_for(lambda: value(fetch(served.url), "gatekeeper_state", state="hold") == 1, 10, 0.05)
    threads, answers = send_held(served.url, 3)
    scrape_when(served.url, "gatekeeper_requests_held", 3)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    exporter = subprocess.Popen(
        [sys.executable, "-m", "gatekeeper", "metrics-exporter", "--listen", "127.0.0.1:0"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert exporter.stderr is not None
        line = exporter.stderr.readline()  # the address it bound, or an error
        assert line.startswith("gatekeeper: serving metrics on http://127.0.0.1:"), line
        base = line.split(" on ", 1)[1].strip().removesuffix("/metrics")
        from_exporter = fetch(base)
        assert value(from_exporter, "gatekeeper_requests_held") == 3
        assert value(from_exporter, "gatekeeper_state", state="hold") == 1
        set_state(r, keys, "open")
        for thread in threads:
            thread.join(40)
        assert answers == [200] * 3
        after = scrape_when(served.url, "gatekeeper_requests_held", 0)
        exported = wait_for(
            lambda: outcomes(fetch(base)) if value(fetch(base), "gatekeeper_requests_held") == 0
            else None,
            10, 0.05, "the exporter to see the release",
        )  # fmt: skip
        assert exported == outcomes(after)
        assert exported["released"] == 3
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(10) == 0
    finally:
        if exporter.poll() is None:
            exporter.kill()
            exporter.wait(5)
