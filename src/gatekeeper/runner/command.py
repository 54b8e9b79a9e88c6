"""Running the migration command as a child, with the runner's signals forwarded to it.

The child gets its own process group so that a Ctrl-C at the terminal reaches the runner
first; the runner forwards it to the whole group (a ``sh -c`` wrapper and what it starts),
waits for the child, and only then releases the gate. Output is inherited: it streams
through unchanged.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from types import FrameType

from gatekeeper._masking import mask_argv, mask_text
from gatekeeper.events import emit

__all__ = ["SignalTrap", "describe", "exit_status", "run_check", "run_supervised", "start_child"]

FORWARDED = (signal.SIGINT, signal.SIGTERM)


def exit_status(returncode: int) -> int:
    """A shell-style status: a child killed by signal N gives 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def start_child(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    if sys.version_info >= (3, 11):
        return subprocess.Popen(list(argv), process_group=0)
    return subprocess.Popen(list(argv), preexec_fn=os.setpgrp)


def run_check(command: str, *, echo: bool = True) -> int:
    """Run ``--if-pending`` CHECK; a CHECK that cannot start counts as "pending".

    ``echo=False`` (``--log-format json``): the event only, not the line on stderr."""
    try:
        argv = shlex.split(command)
        if not argv:
            raise ValueError("the command is empty")
        # The check's chatter goes to stderr: stdout belongs to --json and to COMMAND.
        return subprocess.run(argv, check=False, stdout=_stderr_fd()).returncode
    except (OSError, ValueError) as exc:
        message = f"cannot run the pending check: {exc}; assuming pending"
        emit(
            "runner.pending_check_failed", mask_text(message), level=logging.WARNING,
            check=mask_text(command), error=mask_text(f"{exc.__class__.__name__}: {exc}"),
        )  # fmt: skip
        if echo:
            print(f"gatekeeper: {message}", file=sys.stderr)
        return 1


def _stderr_fd() -> int:
    """``sys.stderr``'s descriptor, or the process's own stderr when it has none (it was
    replaced in-process, for example by ``contextlib.redirect_stderr``)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return 2


class SignalTrap:
    """Records SIGINT/SIGTERM and forwards them to the child's process group, if any."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self.event = threading.Event()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        self.event.set()
        child = self.child
        if child is not None and child.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signum)

    @contextmanager
    def installed(self) -> Iterator[SignalTrap]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signals can only be trapped in the main thread (tests call main())
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in FORWARDED}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_supervised(
    argv: Sequence[str], trap: SignalTrap, on_tick: Callable[[], None] | None = None
) -> int:
    """Run ``argv`` to its end with ``trap``'s signals forwarded, calling ``on_tick`` about
    every 50 ms meanwhile; its shell-style status. ``OSError`` if it cannot start."""
    child = start_child(argv)
    trap.child = child
    if trap.received is not None:
        # The signal came while the child was starting, before the trap knew it.
        with suppress(ProcessLookupError):
            os.killpg(child.pid, trap.received)
    try:
        while child.poll() is None:
            if on_tick is not None:
                on_tick()
            with suppress(subprocess.TimeoutExpired):
                child.wait(0.05)
    finally:
        trap.child = None
    return exit_status(child.returncode)


def describe(argv: Sequence[str], *, masked: bool = False) -> str:
    """COMMAND as a shell line: as given for the runner's progress lines; ``masked``, with
    credentials masked (:func:`gatekeeper._masking.mask_argv`) for its events, since log
    systems keep and forward what they are given."""
    return shlex.join(mask_argv(argv) if masked else argv)
