"""Reading Redis during the benchmarks: command counts, gate reports, floor held counts.

Commands are counted from ``INFO commandstats`` (``cmdstat_<name>:calls=N,...``), taken
before and after a round; the runner's own ``INFO`` calls are left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes

__all__ = [
    "command_counts",
    "command_diff",
    "floor_held",
    "gate_held",
    "gate_reports",
    "wait_until",
]

IGNORED_COMMANDS = frozenset({"info"})


def parse_commandstats(info: dict[str, Any]) -> dict[str, int]:
    """``{"get": 12, ...}`` from the parsed ``INFO commandstats`` section."""
    counts: dict[str, int] = {}
    for key, value in info.items():
        if not key.startswith("cmdstat_"):
            continue
        name = key[len("cmdstat_") :].lower()
        calls = value.get("calls", 0) if isinstance(value, dict) else 0
        counts[name] = int(calls)
    return counts


def command_counts(client: redis.Redis) -> dict[str, int]:
    return parse_commandstats(client.info("commandstats"))


def command_diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Commands run between two snapshots, by name, without the runner's ``INFO``."""
    diff = {
        name: after.get(name, 0) - before.get(name, 0)
        for name in after
        if name not in IGNORED_COMMANDS
    }
    return {name: count for name, count in sorted(diff.items()) if count}


def gate_reports(client: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    """The live gate processes' heartbeat reports under ``prefix``."""
    return read_processes(client, Keys(prefix), ttl=10)


def gate_held(client: redis.Redis, prefix: str) -> int:
    return sum(int(report.get("held", 0)) for report in gate_reports(client, prefix))


def floor_held(client: redis.Redis, prefix: str) -> int:
    keys = client.keys(f"{prefix}:floor-held:*")
    return sum(int(value) for value in client.mget(keys) if value is not None) if keys else 0


def floor_processes(client: redis.Redis, prefix: str) -> int:
    return len(client.keys(f"{prefix}:floor-held:*"))


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.02) -> None:
    """Poll ``check`` until true; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)
