"""The migration command as a child: its own process group, signals forwarded, checks run.

Real processes throughout; waits poll with deadlines (a pid file the grandchild writes,
/proc for whether a process still runs: Linux, as CI is), never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from gatekeeper.runner.command import (
    FORWARDED,
    SignalTrap,
    describe,
    exit_status,
    run_check,
    start_child,
)
from tests.support.helpers import wait_for

TIMEOUT = 5.0

# The outer shell (the child) starts an inner one (the grandchild) in the foreground,
# which records its pid and becomes a long sleep; the outer shell waits for it.
FAMILY = """
sh -c 'echo $$ > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 60' grandchild "$1"
echo "the child outlived its grandchild"
"""


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.fixture
def fallback() -> Iterator[list[int]]:
    """Handlers that record SIGINT/SIGTERM, so a trap that fails to install fails the
    test instead of killing pytest; restored afterwards."""
    seen: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in FORWARDED}
    yield seen
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Children a test started: their process groups (grandchildren too) are killed after."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        if child.poll() is None:  # not a group leader after all
            child.kill()
        child.wait(TIMEOUT)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_trap_ends_the_child_and_its_grandchild(
    sig: signal.Signals,
    tmp_path: Path,
    fallback: list[int],
    children: list[subprocess.Popen[bytes]],
) -> None:
    script = tmp_path / "family.sh"
    script.write_text(FAMILY)
    pid_file = tmp_path / "grandchild.pid"
    trap = SignalTrap()
    with trap.installed():
        child = start_child(["sh", str(script), str(pid_file)])
        children.append(child)
        trap.child = child
        wait_for(pid_file.exists, TIMEOUT, what="the grandchild's pid file")
        grandchild = int(pid_file.read_text())
        assert running(grandchild)

        os.kill(os.getpid(), sig)  # as from `kill` or a Ctrl-C at the terminal
        assert trap.event.wait(TIMEOUT)
        assert trap.received == sig
        assert exit_status(child.wait(TIMEOUT)) == 128 + sig
        wait_for(lambda: not running(grandchild), TIMEOUT, what="the grandchild to end")
    assert fallback == []  # the trap, not the test's own handler, took the signal


def test_child_runs_in_its_own_process_group(children: list[subprocess.Popen[bytes]]) -> None:
    child = start_child(["sleep", "60"])
    children.append(child)
    assert os.getpgid(child.pid) == child.pid
    assert os.getpgid(child.pid) != os.getpgrp()


def test_child_output_streams_through(capfd: pytest.CaptureFixture[str]) -> None:
    child = start_child(["sh", "-c", "echo to-stdout; echo to-stderr >&2"])
    assert child.wait(TIMEOUT) == 0
    out, err = capfd.readouterr()
    assert (out, err) == ("to-stdout\n", "to-stderr\n")


@pytest.mark.parametrize(
    ("returncode", "status"), [(0, 0), (1, 1), (3, 3), (-2, 130), (-9, 137), (-15, 143)]
)
def test_exit_status_maps_killed_by_signal_to_128_plus_n(returncode: int, status: int) -> None:
    assert exit_status(returncode) == status


def test_exit_status_of_a_child_that_killed_itself() -> None:
    child = start_child(["sh", "-c", "kill -KILL $$"])
    returncode = child.wait(TIMEOUT)
    assert returncode == -signal.SIGKILL
    assert exit_status(returncode) == 137


def test_trap_installs_its_handler_and_restores_the_previous(fallback: list[int]) -> None:
    before = {sig: signal.getsignal(sig) for sig in FORWARDED}
    trap = SignalTrap()
    with trap.installed() as installed:
        assert installed is trap
        for sig in FORWARDED:
            assert signal.getsignal(sig) == trap._handle
    assert {sig: signal.getsignal(sig) for sig in FORWARDED} == before

    with pytest.raises(RuntimeError, match="boom"), trap.installed():
        raise RuntimeError("boom")
    assert {sig: signal.getsignal(sig) for sig in FORWARDED} == before


def test_trap_without_a_child_records_the_signal(fallback: list[int]) -> None:
    trap = SignalTrap()
    with trap.installed():
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: the trap handles it
        assert trap.event.wait(TIMEOUT)
    assert trap.received == signal.SIGINT
    assert fallback == []


def test_trap_outside_the_main_thread_installs_nothing(fallback: list[int]) -> None:
    before = {sig: signal.getsignal(sig) for sig in FORWARDED}
    seen: list[object] = []

    def in_thread() -> None:
        trap = SignalTrap()
        with trap.installed() as installed:
            seen.append(installed is trap)
            seen.append({sig: signal.getsignal(sig) for sig in FORWARDED})

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(TIMEOUT)
    assert seen == [True, before]


@pytest.mark.parametrize(("check", "status"), [("true", 0), ("false", 1), ("sh -c 'exit 3'", 3)])
def test_run_check_returns_the_checks_status(check: str, status: int) -> None:
    assert run_check(check) == status


def test_run_check_output_goes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    assert run_check("sh -c 'echo checked'") == 0
    out, err = capfd.readouterr()
    assert out == ""  # stdout belongs to --json and COMMAND
    assert err == "checked\n"


@pytest.mark.parametrize(
    "check",
    ["gatekeeper-test-no-such-binary --flag", "'unbalanced", "   "],
    ids=["missing-binary", "bad-quoting", "blank"],
)
def test_check_that_cannot_run_counts_as_pending_with_one_line_on_stderr(
    check: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run_check(check) == 1
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gatekeeper: cannot run the pending check: ")
    assert lines[0].endswith("; assuming pending")


def test_run_check_with_stderr_redirected_in_process_still_runs_the_check(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # sys.stderr without a file descriptor (contextlib.redirect_stderr, a test runner)
    # must not turn a check that ran fine into "cannot run: assuming pending".
    redirected = io.StringIO()
    with contextlib.redirect_stderr(redirected):
        assert run_check("true") == 0
        assert run_check("false") == 1
        assert run_check("sh -c 'echo checked'") == 0
    assert "cannot run" not in redirected.getvalue()
    assert capfd.readouterr().out == ""  # the check's chatter still stays off stdout


def test_describe_quotes_like_a_shell() -> None:
    assert describe(["sh", "-c", "echo 'hi there'", "x y"]) == (
        "sh -c 'echo '\"'\"'hi there'\"'\"'' 'x y'"
    )
