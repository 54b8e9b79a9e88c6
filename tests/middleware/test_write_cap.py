"""Under ``readonly`` a thread-based process holds at most ``max_held_writes`` writes, so
that held writes never take every thread from the reads (real Redis, real threads)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis

from gatekeeper import Gate
from gatekeeper.core.decision import Decision, Reason, RequestFacts
from gatekeeper.middleware._write_cap import DEFAULT_WRITE_CAP, set_server_threads, write_hold_cap
from gatekeeper.middleware.gate import Outcome
from gatekeeper.options import OptionError, build_options
from gatekeeper.state.keys import Keys
from tests.support.helpers import set_state, wait_for


def test_write_cap_comes_from_option_then_server_threads_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gatekeeper.middleware._write_cap._threads", None)
    assert write_hold_cap(None) == DEFAULT_WRITE_CAP
    set_server_threads(25)
    assert write_hold_cap(None) == 12
    set_server_threads(1)
    assert write_hold_cap(None) == 1
    assert write_hold_cap(0) == 0


@pytest.mark.parametrize(("raw", "expected"), [("auto", None), ("3", 3), (0, 0), (" AUTO ", None)])
def test_max_held_writes_option_parsed(raw: object, expected: int | None) -> None:
    assert build_options({"max_held_writes": raw}).max_held_writes == expected


def test_max_held_writes_bad_value_names_option() -> None:
    with pytest.raises(OptionError, match="max_held_writes"):
        build_options({"max_held_writes": "some"})


def test_writes_past_cap_answered_503_at_once_while_reads_pass(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    gate = make_gate(max_held_writes=2, poll_interval=30)
    gate.watcher.wait_ready()
    set_state(r, keys, "readonly")
    wait_for(lambda: gate.watcher.snapshot.mode.value == "readonly", timeout=2)  # type: ignore[union-attr]
    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(gate.screen(RequestFacts("POST", "/w"))))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: gate.watcher.counters.held_writes == 2, timeout=2)
    third = gate.screen(RequestFacts("POST", "/w"))
    assert third.verdict.reason is Reason.WRITE_CAPACITY
    assert third.reply is not None
    assert third.reply.status == 503
    assert ("Retry-After", "10") in third.reply.headers
    read = gate.screen(RequestFacts("GET", "/r"))
    assert read.verdict.decision is Decision.PASS
    set_state(r, keys, "open")
    for thread in threads:
        thread.join(5)
    assert [o.verdict.decision for o in outcomes] == [Decision.PASS, Decision.PASS]
    assert gate.watcher.counters.held_writes == 0
    assert gate.watcher.counters.held == 0
