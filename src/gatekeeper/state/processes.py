"""Live gate processes in Redis: each process's heartbeat report, and reading them back.

A process writes ``<prefix>:proc:<id>`` (a JSON report with an expiry) and scores its id
in the sorted set ``<prefix>:procs`` with the time of the heartbeat. The runner and
``gatekeeper status`` list the ids seen within the expiry and read their reports; a
process that died simply stops renewing and drops out.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from typing import Any

from redis import Redis, RedisError
from redis.client import Pipeline

from gatekeeper._parsers import default_hostname
from gatekeeper.state.keys import Keys

__all__ = [
    "current_tally",
    "longest_wait",
    "new_process_id",
    "process_host",
    "read_processes",
    "report_ttl",
    "settle",
    "tally",
    "tally_difference",
    "write_report",
]

COUNTS = ("held_total", "released_total", "rejected_total", "handed_off_total", "client_gone_total")


def new_process_id(host: str | None = None) -> str:
    """``host:pid:random``; ``host`` defaults to the machine's short host name."""
    return f"{host or default_hostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def process_host(proc_id: str) -> str:
    """The short host name a process id starts with (see :func:`new_process_id`)."""
    return proc_id.split(":", 1)[0]


def report_ttl(poll_interval: float) -> int:
    """Seconds a report lives without renewal: three heartbeats, at least 3 s."""
    return max(3, int(poll_interval * 3 + 0.999))


def write_report(
    pipe: Pipeline, keys: Keys, proc_id: str, report: dict[str, Any], ttl: int
) -> None:
    # The report says how long it lives, so a runner knows how long a process that
    # vanished with a Redis restart has to report again (see _drain).
    body = json.dumps({**report, "ttl": ttl}, separators=(",", ":"))
    pipe.set(keys.proc(proc_id), body, ex=ttl)
    pipe.zadd(keys.procs, {proc_id: time.time()})


RETIRED_TTL = 30
"""Seconds the last report of a process that withdrew stays readable (``gone``)."""


def withdraw_report(pipe: Pipeline, keys: Keys, proc_id: str, report: dict[str, Any]) -> None:
    """Take a process out of the live set, leaving its last totals readable for a while:
    a runner that watched it can still count what it did just before it left."""
    body = json.dumps({**report, "gone": True}, separators=(",", ":"))
    pipe.set(keys.proc(proc_id), body, ex=RETIRED_TTL)
    pipe.zrem(keys.procs, proc_id)


def read_retired(client: Redis, keys: Keys, ids: list[str]) -> list[dict[str, Any]]:
    """The last reports of those of ``ids`` that withdrew (see :func:`withdraw_report`)."""
    if not ids:
        return []
    reports = []
    for proc_id, raw in zip(ids, client.mget([keys.proc(i) for i in ids]), strict=True):
        try:
            report = json.loads(raw) if raw is not None else None
        except ValueError:
            continue
        if isinstance(report, dict) and report.get("gone") is True:
            reports.append({**report, "id": proc_id})
    return reports


def read_processes(client: Redis, keys: Keys, ttl: int = 60) -> list[dict[str, Any]]:
    """Reports of the processes seen in the last ``ttl`` seconds, oldest first.

    Ids whose report expired are removed from the set on the way.
    """
    now = time.time()
    client.zremrangebyscore(keys.procs, "-inf", now - max(ttl, 1) * 10)
    ids = [
        proc_id.decode() if isinstance(proc_id, bytes) else str(proc_id)
        for proc_id in client.zrangebyscore(keys.procs, now - ttl, "+inf")
    ]
    if not ids:
        return []
    raw_reports = client.mget([keys.proc(proc_id) for proc_id in ids])
    reports: list[dict[str, Any]] = []
    gone: list[str] = []
    for proc_id, raw in zip(ids, raw_reports, strict=True):
        if raw is None:
            gone.append(proc_id)
            continue
        try:
            report = json.loads(raw)
        except ValueError:
            continue
        if isinstance(report, dict):
            report["id"] = proc_id
            reports.append(report)
    if gone:
        client.zrem(keys.procs, *gone)
    return reports


def tally(reports: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Each process's running totals (held, released, rejected), by process id."""
    return {r["id"]: {name: int(r.get(name, 0)) for name in COUNTS} for r in reports}


def tally_difference(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, int]:
    """Requests held, released, rejected (answered 503), handed off and given up by
    their clients while held, between two tallies, over all processes.

    A process that appeared in between counts from zero; one that vanished (died, or
    its report expired) counts with what it last reported.
    """
    totals = {"held": 0, "released": 0, "rejected": 0, "handed_off": 0, "client_gone": 0}
    for proc_id in before.keys() | after.keys():
        start = before.get(proc_id, dict.fromkeys(COUNTS, 0))
        end = after.get(proc_id, start)
        totals["held"] += end["held_total"] - start["held_total"]
        totals["released"] += end["released_total"] - start["released_total"]
        totals["rejected"] += end["rejected_total"] - start["rejected_total"]
        totals["handed_off"] += end["handed_off_total"] - start["handed_off_total"]
        totals["client_gone"] += end["client_gone_total"] - start["client_gone_total"]
    return totals


def current_tally(client: Redis, keys: Keys) -> dict[str, dict[str, int]]:
    """:func:`tally` of the live processes now; empty if Redis cannot say."""
    try:
        return tally(read_processes(client, keys))
    except RedisError:
        return {}


def longest_wait(reports: list[dict[str, Any]]) -> float | None:
    """The longest hold that ended in any of these processes, in seconds: the largest of
    their ``longest_wait`` (each since it last went from open to a gated mode). ``None``
    when no report carries one (gates from before it existed); a value that is not a
    finite number of seconds is skipped: a report is read back from Redis, untrusted."""
    waits: list[float] = []
    for report in reports:
        if "longest_wait" not in report:
            continue
        try:
            value = float(report.get("longest_wait", 0) or 0)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and value >= 0:
            waits.append(value)
    return max(waits) if waits else None


def settle(
    client: Redis,
    keys: Keys,
    before: dict[str, dict[str, int]],
    mode: str,
    wait: float = 3.0,
    seen: dict[str, dict[str, int]] | None = None,
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """:func:`tally_difference` since ``before``, once every process reports ``mode`` with
    nothing held (each reports as soon as it has settled), or after ``wait`` seconds; and
    the last reports read (for :func:`longest_wait`; empty if none could be read).

    ``seen``: later totals of processes that may have left since (a handoff's old
    processes); a live process's own report is newer and wins.
    """
    deadline = time.monotonic() + wait
    after = {**before, **(seen or {})}
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            reports = read_processes(client, keys)
        except RedisError:
            break
        last = reports
        after = {**before, **(seen or {}), **tally(reports)}
        if all(int(r.get("held", 0)) == 0 and r.get("mode") == mode for r in reports):
            break
        time.sleep(0.02)
    return tally_difference(before, after), last
