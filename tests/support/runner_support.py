"""Helpers for runner tests: start ``python -m gatekeeper run-migration`` as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from tools.openloop import Record, Result


def start_runner(
    redis_url: str, prefix: str, args: Sequence[str], **popen: object
) -> subprocess.Popen[str]:
    env = {**os.environ, "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    streams: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "gatekeeper", "run-migration", *args],
        env=env,
        text=True,
        **{**streams, **popen},
    )


def failures(samples: list[Record]) -> list[Record]:
    return [s for s in samples if s.status != 200]


def overlapping(traffic: Result, start: float, end: float) -> list[Record]:
    """Requests sent while the window (epoch seconds) was open."""
    return [s for s in traffic.records if start <= traffic.epoch(s.scheduled) < end]
