"""A message that names a mode: obeyed at once, confirmed by a re-read a moment later.

The watcher's publishes and reports are recorded by wrapping its own methods on the
instance (Redis, the thread and the timing are all real).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from gatekeeper import Gate, Mode
from gatekeeper.state import watcher as watcher_module
from gatekeeper.state.keys import Keys
from gatekeeper.state.snapshot import Snapshot
from tests.support.helpers import wait_for


def _record_publishes(gate: Gate) -> list[tuple[float, Snapshot]]:
    watcher = gate.watcher
    seen: list[tuple[float, Snapshot]] = []
    publish = watcher._publish

    def recording(snapshot: Snapshot) -> None:
        seen.append((time.monotonic(), snapshot))
        publish(snapshot)

    watcher._publish = recording  # type: ignore[method-assign]
    return seen


def test_named_mode_is_obeyed_before_the_rereads_confirmation(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=30)
    gate.watcher.wait_ready()
    seen = _record_publishes(gate)
    r.hset(keys.info, mapping={"message": "back at ten"})
    r.set(keys.state, "maintenance")
    sent = time.monotonic()
    r.publish(keys.events, "maintenance")
    wait_for(lambda: gate.watcher.snapshot and gate.watcher.snapshot.message, what="re-read")
    (hinted_at, hinted), (read_at, read) = seen[-2:]
    assert (hinted.mode, hinted.message) == (Mode.MAINTENANCE, "")  # the message alone
    assert (read.mode, read.message) == (Mode.MAINTENANCE, "back at ten")  # the keys
    assert read_at - hinted_at >= watcher_module._CONFIRM_DELAY * 0.9
    assert read_at - sent < 1.0  # not the 30 s poll


def test_hint_contradicted_by_the_keys_gives_way_to_them(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=30)
    gate.watcher.wait_ready()
    seen = _record_publishes(gate)
    r.publish(keys.events, "hold")  # the key itself still says open
    wait_for(lambda: len(seen) >= 2, what="the hint, then the re-read")
    assert [snapshot.mode for _, snapshot in seen] == [Mode.HOLD, Mode.OPEN]


def test_hold_named_by_a_message_is_acknowledged_only_after_the_reread(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(poll_interval=30)
    watcher = gate.watcher
    watcher.wait_ready()
    reports: list[dict[str, Any]] = []
    written = watcher.reporter.written

    def recording(report: dict[str, Any]) -> None:
        reports.append(report)
        written(report)

    watcher.reporter.written = recording  # type: ignore[method-assign]
    seen = _record_publishes(gate)
    r.hset(keys.info, mapping={"generation": "g7"})
    r.set(keys.state, "hold")
    r.publish(keys.events, "hold")
    wait_for(lambda: any(report.get("drained") for report in reports), what="the ack")
    assert [report["drained"] for report in reports if "drained" in report] == ["hold:g7"]
    assert [snapshot.generation for _, snapshot in seen] == ["", "g7"]  # hint, then keys


def test_burst_first_named_mode_obeyed_at_once_then_the_last_message_decides(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    # The burst is queued while the watcher is held inside a re-read: it then finds
    # "hold", with "maintenance" and "x" behind it. The first is obeyed before the rest
    # are read (a read lets go of the GIL); "x", the last, asks for a re-read of the keys;
    # "maintenance", in between, is never obeyed.
    gate = make_gate(poll_interval=30)
    watcher = gate.watcher
    watcher.wait_ready()
    inside, go_on = threading.Event(), threading.Event()
    refresh = watcher._refresh

    def held_refresh(client: Any, *, heartbeat: bool) -> None:
        if not go_on.is_set():
            inside.set()
            assert go_on.wait(10)
        refresh(client, heartbeat=heartbeat)

    watcher._refresh = held_refresh  # type: ignore[method-assign]
    r.publish(keys.events, "x")
    assert inside.wait(10)
    seen = _record_publishes(gate)
    r.set(keys.state, "readonly")
    for payload in ("hold", "maintenance", "x"):
        r.publish(keys.events, payload)
    r.ping()  # a later turn of Redis's loop: the messages above are on their way
    go_on.set()
    wait_for(lambda: len(seen) >= 3, what="the held re-read, the hint, the burst's re-read")
    # The held re-read finds the keys already at readonly; then the burst.
    assert [snapshot.mode for _, snapshot in seen] == [Mode.READONLY, Mode.HOLD, Mode.READONLY]
