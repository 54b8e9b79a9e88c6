"""ProcessReporter: when a process's report is wanted, when it is ready, what it says.

Real Counters and Snapshots; the 0.5 s patience is driven by a clock that replaces
``time.monotonic`` in the reporting module only.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from gatekeeper.core.modes import Mode
from gatekeeper.state import _reporter as reporting
from gatekeeper.state._reporter import ProcessReporter
from gatekeeper.state.snapshot import Snapshot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(
        reporting, "time", SimpleNamespace(monotonic=clock.monotonic, time=time.time)
    )
    return clock


def test_fresh_reporter_under_open_wants_no_report() -> None:
    reporter = ProcessReporter()
    assert reporter.wanted(None) is False
    assert reporter.wanted(Snapshot(Mode.OPEN, generation="g1")) is False
    assert reporter.ready(None) is False


def test_hold_is_acked_once_the_requests_in_flight_have_left() -> None:
    reporter = ProcessReporter()
    counters = reporter.counters
    counters.enter(write=False)  # a request inside the app
    hold = Snapshot(Mode.HOLD, generation="g1")
    reporter.state_changed()
    assert reporter.wanted(hold) is True
    assert reporter.ready(hold) is False

    report = reporter.build(hold)
    assert "drained" not in report
    assert (report["mode"], report["inflight"]) == ("hold", 1)
    reporter.written(report)
    assert reporter.wanted(hold) is True  # the runner still waits for the ack

    counters.leave(write=False)
    assert reporter.ready(hold) is True
    report = reporter.build(hold)
    assert report["drained"] == "hold:g1"
    reporter.written(report)
    assert reporter.wanted(hold) is False  # acked: nobody waits on this process now

    again = Snapshot(Mode.HOLD, generation="g2")  # a new runner's hold
    assert reporter.wanted(again) is True
    assert reporter.build(again)["drained"] == "hold:g2"


def test_maintenance_ack_names_its_mode() -> None:
    reporter = ProcessReporter()
    maintenance = Snapshot(Mode.MAINTENANCE, generation="g7")
    assert reporter.wanted(maintenance) is True
    assert reporter.ready(maintenance) is True
    report = reporter.build(maintenance)
    assert report["drained"] == "maintenance:g7"
    reporter.written(report)
    assert reporter.wanted(maintenance) is False
    assert reporter.wanted(Snapshot(Mode.HOLD, generation="g7")) is True  # other mode


def test_readonly_drain_waits_for_writes_only() -> None:
    reporter = ProcessReporter()
    readonly = Snapshot(Mode.READONLY, generation="g1")
    reporter.counters.enter(write=False)  # reads keep flowing under readonly
    assert reporter.ready(readonly) is True
    assert reporter.build(readonly)["drained"] == "readonly:g1"

    reporter.counters.enter(write=True)
    assert reporter.ready(readonly) is False
    assert "drained" not in reporter.build(readonly)
    reporter.counters.leave(write=True)
    assert reporter.ready(readonly) is True


def test_open_with_held_requests_is_reported_once_held_reaches_zero(clock: Clock) -> None:
    reporter = ProcessReporter()
    counters = reporter.counters
    assert counters.hold_begin(cap=10)
    assert counters.hold_begin(cap=10)
    opened = Snapshot(Mode.OPEN, generation="g1")
    reporter.state_changed()
    assert reporter.wanted(opened) is True
    assert reporter.ready(opened) is False

    counters.hold_end(released=True)
    assert reporter.ready(opened) is False  # one still held
    counters.hold_end(released=True)
    assert reporter.ready(opened) is True

    report = reporter.build(opened)
    assert "drained" not in report  # no ack under open
    assert (report["mode"], report["held"], report["released_total"]) == ("open", 0, 2)
    reporter.written(report)
    assert reporter.wanted(opened) is False


def test_open_with_requests_still_held_is_reported_after_the_patience(clock: Clock) -> None:
    reporter = ProcessReporter()
    assert reporter.counters.hold_begin(cap=10)  # a request that is slow to leave
    opened = Snapshot(Mode.OPEN)
    reporter.state_changed()
    clock.now += 0.5
    assert reporter.ready(opened) is False  # not yet past the 0.5 s patience
    clock.now += 0.01
    assert reporter.ready(opened) is True

    reporter.written(reporter.build(opened))
    assert reporter.wanted(opened) is False
    clock.now += 10
    assert reporter.ready(opened) is False  # patience counts from a state change only


def test_report_carries_pid_start_mode_and_counts() -> None:
    before = time.time()
    reporter = ProcessReporter()
    reporter.counters.rejected()
    report = reporter.build(Snapshot(Mode.HOLD, generation="g1"))
    assert report["pid"] == os.getpid()
    assert before - 0.001 <= report["started"] <= time.time() + 0.001
    assert report["mode"] == "hold"
    assert report["rejected_total"] == 1
    assert set(reporter.counters.as_dict()) <= set(report)

    unread = reporter.build(None)  # the state was never read
    assert unread["mode"] == ""
    assert "drained" not in unread
