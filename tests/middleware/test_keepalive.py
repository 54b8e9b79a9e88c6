"""The keep-alive switch (``<prefix>:keepalive``) against a real redis-server: the gates
that obey it, their acknowledgement, the headers they send, and release identity."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from gatekeeper import ASGIMiddleware, Gate
from gatekeeper.cli import main
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.state.snapshot import parse_keepalive
from gatekeeper.state.store import group_processes, restore_keepalive, set_keepalive_off
from tests.support.helpers import wait_for


@pytest.mark.parametrize(
    ("raw", "host", "closing", "problem"),
    [
        (None, "web-1", False, False),
        ("", "web-1", False, False),
        ("on", "web-1", False, False),
        ("off", "web-1", True, False),
        (b" OFF\n", "web-1", True, False),
        ("off:web-1,web-2", "web-1", True, False),
        ("off:web-2", "web-1", False, False),
        ("off:Web-1.internal", "web-1", True, False),
        ("off:", "web-1", False, True),
        ("closed", "web-1", False, True),
    ],
)
def test_keepalive_value_parsed_with_documented_outcome(
    raw: str | bytes | None, host: str, closing: bool, problem: bool
) -> None:
    found, why = parse_keepalive(raw, host)
    assert found is closing
    assert (why is not None) is problem


def _report(r: redis.Redis, keys: Keys, proc_id: str) -> dict[str, Any]:
    raw = r.get(keys.proc(proc_id))
    assert raw is not None
    report: dict[str, Any] = json.loads(raw)
    return report


def test_keepalive_off_published_reaches_gate_and_is_acknowledged(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=30, release="v7", hostname="web-1")
    watcher = gate.watcher
    watcher.wait_ready()
    proc_id = watcher.proc_id
    wait_for(lambda: r.exists(keys.proc(proc_id)), timeout=3)
    assert _report(r, keys, proc_id)["keepalive"] == "on"

    set_keepalive_off(r, keys, ttl=30)
    # The poll is 30 s away: only the PUBLISH can make these true in time.
    wait_for(lambda: watcher.snapshot is not None and watcher.snapshot.closing, timeout=2)
    assert watcher.snapshot is not None
    assert not watcher.snapshot.plain
    wait_for(lambda: _report(r, keys, proc_id)["keepalive"] == "off", timeout=2)
    report = _report(r, keys, proc_id)
    assert (report["host"], report["release"], report["pid"]) == ("web-1", "v7", report["pid"])
    assert proc_id.startswith("web-1:")

    restore_keepalive(r, keys)
    wait_for(lambda: watcher.snapshot is not None and watcher.snapshot.plain, timeout=2)
    wait_for(lambda: _report(r, keys, proc_id)["keepalive"] == "on", timeout=2)


def test_keepalive_off_for_other_host_leaves_this_gate_alone(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    here = make_gate(poll_interval=30, hostname="web-1").watcher
    there = make_gate(poll_interval=30, hostname="web-2").watcher
    here.wait_ready()
    there.wait_ready()
    set_keepalive_off(r, keys, ["web-2"], ttl=30)
    wait_for(lambda: there.snapshot is not None and there.snapshot.closing, timeout=2)
    assert here.snapshot is not None
    assert here.snapshot.plain


def test_keepalive_key_expiry_seen_by_poll_without_publish(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    watcher = make_gate(poll_interval=0.1).watcher
    watcher.wait_ready()
    # A reload that died: the key expires and nothing is published.
    r.set(keys.keepalive, "off", px=300)
    wait_for(lambda: watcher.snapshot is not None and watcher.snapshot.closing, timeout=2)
    wait_for(lambda: watcher.snapshot is not None and watcher.snapshot.plain, timeout=2)


def test_unknown_keepalive_value_logged_once_and_connections_kept(
    make_gate: Callable[..., Gate],
    r: redis.Redis,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = make_gate(poll_interval=0.05).watcher
    watcher.wait_ready()
    r.set(keys.keepalive, "closed")
    r.publish(keys.events, "keepalive")
    wait_for(lambda: "unknown keepalive value 'closed'" in caplog.text, timeout=2)
    # Several more polls (every 50 ms) read the same value: it is not logged again.
    seen = time.monotonic()
    wait_for(lambda: (watcher._last_ok or 0) > seen + 0.3, timeout=2)
    assert caplog.text.count("unknown keepalive value") == 1
    assert watcher.snapshot is not None
    assert watcher.snapshot.plain


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"2"), (b"connection", b"keep-alive")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def test_asgi_response_while_keepalive_off_carries_connection_close(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=30)
    app = ASGIMiddleware(_hello, gate=gate)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/")).headers.get_list("connection") == ["keep-alive"]
        set_keepalive_off(r, keys, ttl=30)
        wait_for(lambda: not gate.watcher.snapshot.plain, timeout=2)  # type: ignore[union-attr]
        response = await client.get("/")
        assert response.status_code == 200
        assert response.headers.get_list("connection") == ["close"]  # replaced, not added
        r.set(keys.state, "maintenance")
        r.publish(keys.events, "maintenance")
        wait_for(lambda: gate.watcher.snapshot.mode.value == "maintenance", timeout=2)  # type: ignore[union-attr]
        rejected = await client.get("/")
        assert rejected.status_code == 503
        assert rejected.headers["connection"] == "close"


async def test_drain_health_turns_health_path_503_only_while_closing(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=30, drain_health=True)
    app = ASGIMiddleware(_hello, gate=gate)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/healthz")).status_code == 200
        set_keepalive_off(r, keys, ttl=30)
        wait_for(lambda: not gate.watcher.snapshot.plain, timeout=2)  # type: ignore[union-attr]
        health = await client.get("/healthz", headers={"Accept": "application/json"})
        assert health.status_code == 503
        assert health.json()["reason"] == "draining"
        assert health.headers["connection"] == "close"
        assert (await client.get("/")).status_code == 200  # only health paths answer 503


def test_status_groups_processes_by_host_and_release(
    make_gate: Callable[..., Gate],
    r: redis.Redis,
    keys: Keys,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for host, release in (("web-1", "v1"), ("web-2", "v1"), ("web-2", "v2")):
        make_gate(hostname=host, release=release).watcher.wait_ready()
    wait_for(lambda: len(read_processes(r, keys)) == 3, timeout=3)
    groups = group_processes(read_processes(r, keys))
    assert [(g["host"], g["release"], len(g["ids"])) for g in groups] == [
        ("web-1", "v1", 1),
        ("web-2", "v1", 1),
        ("web-2", "v2", 1),
    ]
    assert main(["--redis-url", redis_url, "--prefix", keys.prefix, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [(g["host"], g["release"]) for g in status["groups"]] == [
        ("web-1", "v1"),
        ("web-2", "v1"),
        ("web-2", "v2"),
    ]
    assert status["keepalive"] is None
    assert main(["--redis-url", redis_url, "--prefix", keys.prefix, "status"]) == 0
    text = capsys.readouterr().out
    assert "processes: 3 on 2 hosts" in text
    assert "web-2  release v2: 1" in text
