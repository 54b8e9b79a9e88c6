"""More requests than max_held; thousands held with clients giving up; all released."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.faults.audit import audit, journal_entries
from tests.faults.conftest import ServeFactory, steady_load
from tests.support.helpers import wait_for


def held_now(client: redis.Redis, keys: Keys) -> int:
    return sum(int(r.get("held", 0)) for r in read_processes(client, keys))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def hold_and_wait(client: redis.Redis, keys: Keys) -> None:
    """Set the hold and wait until the (one) gate process reports it is holding."""
    client.set(keys.state, "hold")
    client.publish(keys.events, "x")
    wait_for(
        lambda: [r.get("mode") for r in read_processes(client, keys)] == ["hold"],
        5.0,
        what="the gate to report hold",
    )


def worker_pid(client: redis.Redis, keys: Keys) -> int:
    reports = wait_for(lambda: read_processes(client, keys), 5.0, what="a report")
    return int(reports[0]["pid"])


def test_burst_over_max_held_gets_503_at_once_and_held_ones_released(
    serve: ServeFactory, redis_url: str, prefix: str, journal: Path
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    app = serve("uvicorn", redis_url, workers=1, GATEKEEPER_MAX_HELD="50")
    steady_load(app, rate=1, seconds=1).result(30)  # warm, one request: the watcher runs
    hold_and_wait(client, keys)
    burst = steady_load(app, rate=1500, seconds=0.1)  # 150 requests within 0.1 s
    wait_for(lambda: held_now(client, keys) == 50, 10.0, what="50 held")
    wait_for(lambda: len(burst.finished) >= 100, 5.0, what="100 answered")
    excess = list(burst.finished)
    assert all(s.status == 503 and s.tag for s in excess)  # with Retry-After
    assert max(s.latency or 0 for s in excess) < 2.0  # at once, not at the hold deadline
    client.delete(keys.state)
    client.publish(keys.events, "x")
    samples = burst.result(timeout=10).records
    result = audit(samples, journal)
    result.assert_clean()
    assert (result.answered, result.rejected) == (50, 100)


def test_thousands_held_with_disconnects_free_waiters_and_release_answers_rest(
    serve: ServeFactory, redis_url: str, prefix: str, journal: Path
) -> None:
    total, leaving = 2000, 1000
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    app = serve("uvicorn", redis_url, workers=1, GATEKEEPER_MAX_HELD="5000",
                GATEKEEPER_HOLD_TIMEOUT="30")  # fmt: skip
    steady_load(app, rate=1, seconds=1).result(30)  # warm, one request
    pid = worker_pid(client, keys)
    hold_and_wait(client, keys)
    rss_before = rss_kib(pid)
    sockets = []
    for n in range(total):
        sock = socket.create_connection(("127.0.0.1", app.port))
        sock.sendall(f"GET /r/{n} HTTP/1.1\r\nHost: t\r\nX-Request-Id: {n}\r\n\r\n".encode())
        sockets.append(sock)
    wait_for(lambda: held_now(client, keys) == total, 40.0, interval=0.05, what=f"{total} held")
    per_request = (rss_kib(pid) - rss_before) * 1024 / total
    for sock in sockets[:leaving]:
        sock.close()
    wait_for(
        lambda: held_now(client, keys) == total - leaving, 20.0, interval=0.05, what="waiters freed"
    )
    released = time.monotonic()
    client.delete(keys.state)
    client.publish(keys.events, "x")
    statuses = []
    for sock in sockets[leaving:]:
        sock.settimeout(10)
        statuses.append(sock.recv(64).split(b" ")[1])
        sock.close()
    took = time.monotonic() - released
    assert statuses == [b"200"] * (total - leaving)
    processed = {int(rid) for rid, _, _ in journal_entries(journal) if rid.isdigit()}
    assert processed == set(range(leaving, total))
    print(
        f"\n{total} held, {leaving} left while held (freed, never processed), "
        f"{total - leaving} answered 200 within {took * 1000:.0f} ms of the release; "
        f"~{per_request / 1024:.1f} KiB RSS per held request"
    )
    assert per_request < 64 * 1024  # bounded: tens of KiB, not a thread or a connection each
