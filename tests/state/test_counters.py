"""In-flight and hold counters: lock-free in-flight counts stay exact under threads."""

from __future__ import annotations

import sys
import threading
import time

from gatekeeper.core.modes import Mode
from gatekeeper.state.counters import Counters


def test_concurrent_enter_and_leave_end_at_zero() -> None:
    counters = Counters()
    start = threading.Barrier(8)

    def churn(write: bool) -> None:
        start.wait()
        for _ in range(20_000):
            counters.enter(write)
            counters.leave(write)

    threads = [threading.Thread(target=churn, args=(i % 2 == 0,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (counters.inflight, counters.inflight_writes) == (0, 0)


def test_drained_under_readonly_counts_only_writes() -> None:
    counters = Counters()
    counters.enter(write=False)
    assert counters.drained(Mode.READONLY) is True
    assert counters.drained(Mode.HOLD) is False
    counters.enter(write=True)
    assert counters.drained(Mode.READONLY) is False
    counters.leave(write=True)
    counters.leave(write=False)
    assert counters.drained(Mode.HOLD) is True


def test_hold_released_counts_as_a_released_hold_end() -> None:
    short, full = Counters(), Counters()
    for counters in (short, full):
        assert counters.hold_begin(5) is True
        assert counters.hold_begin(5) is True
    short.hold_released()
    full.hold_end(released=True)
    assert short.as_dict() == full.as_dict()
    assert short.held == 1
    assert short.released_total == 1


def test_hold_cap_refuses_past_max_held() -> None:
    counters = Counters()
    assert counters.hold_begin(2) is True
    assert counters.hold_begin(2) is True
    assert counters.hold_begin(2) is False
    counters.hold_end(released=True)
    counters.hold_end(released=False, timed_out=True)
    assert counters.as_dict() | {"inflight": 0} == {
        "inflight": 0,
        "inflight_writes": 0,
        "held": 0,
        "held_total": 2,
        "released_total": 1,
        "rejected_total": 1,
        "timed_out_total": 1,
        "handed_off_total": 0,
        "client_gone_total": 0,
        "longest_wait": 0.0,
        "held_since": None,
    }


def test_in_flight_lists_are_not_resized_as_requests_come_and_go() -> None:
    # A list that falls to empty is shrunk by pop() and grown by the next append(): two
    # reallocs per request on the open path, which the ballast avoids.
    counters = Counters()

    def sizes() -> tuple[int, int]:
        return sys.getsizeof(counters.inside), sys.getsizeof(counters._writes_inside)

    counters.enter(True)
    grown = sizes()
    for _ in range(20):
        counters.leave(True)
        assert (counters.inflight, counters.inflight_writes) == (0, 0)
        assert sizes() == grown
        counters.enter(True)
        counters.enter(False)
        assert (counters.inflight, counters.inflight_writes) == (2, 1)
        assert sizes() == grown
        counters.leave(False)


def test_a_hold_whose_client_left_counts_as_gone_not_as_a_rejection() -> None:
    counters = Counters()
    assert counters.hold_begin(5) is True
    counters.hold_end(released=False, gone=True)
    assert (counters.held, counters.rejected_total, counters.client_gone_total) == (0, 0, 1)


def test_longest_wait_keeps_the_longest_hold_until_a_new_hold_period() -> None:
    counters = Counters()
    for waited in (0.5, 2.25, 1.0):
        assert counters.hold_begin(5) is True
        counters.hold_released(waited)
    assert counters.hold_begin(5) is True
    counters.hold_end(released=False, timed_out=True, waited=3.5)
    assert counters.as_dict()["longest_wait"] == 3.5
    counters.new_hold_period()
    assert counters.longest_wait == 0.0


def test_held_since_marks_when_holding_began_until_nothing_is_held() -> None:
    counters = Counters()
    assert counters.held_since is None
    before = time.time()
    assert counters.hold_begin(5) is True
    began = counters.held_since
    assert began is not None
    assert before <= began <= time.time()
    assert counters.hold_begin(5) is True
    assert counters.held_since == began  # the oldest, not the latest
    counters.hold_released(0.1)
    assert counters.held_since == began  # one is still held
    counters.hold_end(released=False, timed_out=True)
    assert counters.held_since is None
    assert counters.as_dict()["held_since"] is None
