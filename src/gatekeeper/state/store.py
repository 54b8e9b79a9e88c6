"""Writing and reading the shared state: what the CLI's operator commands and the runner do.

Every write fills the info hash afresh, sets the state, and PUBLISHes on the events
channel so every gate re-reads at once. ``open`` writes the literal value ``open`` (not a
DEL): a runner's heartbeat sees it as an explicit decision by an operator and stops
re-creating its hold.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from gatekeeper.core.modes import Mode, parse_mode
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import process_host, read_processes

__all__ = [
    "Status",
    "group_processes",
    "identity",
    "keepalive_value",
    "read_status",
    "restore_keepalive",
    "set_keepalive_off",
    "set_mode",
    "set_open",
]


def identity() -> str:
    """Who is acting: ``user@host:pid``, recorded as ``owner`` and in the runner's lock."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def info_fields(
    *,
    message: str | None = None,
    retry_after: int | None = None,
    hold_until: float | None = None,
    generation: str | None = None,
    owner: str | None = None,
    ttl: float | None = None,
) -> dict[str, str]:
    fields = {"owner": owner or identity(), "since": f"{time.time():.3f}"}
    if message:
        fields["message"] = message
    if retry_after is not None:
        fields["retry_after"] = str(retry_after)
    if hold_until is not None:
        fields["hold_until"] = f"{hold_until:.3f}"
    if generation:
        fields["generation"] = generation
    if ttl:
        fields["ttl"] = f"{ttl:g}"
    return fields


def set_mode(
    client: redis.Redis, keys: Keys, mode: Mode, fields: dict[str, str], ttl: float | None = None
) -> None:
    """Set the state and a fresh info hash in one transaction, then PUBLISH."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.info)
    pipe.hset(keys.info, mapping=fields)  # type: ignore[arg-type]
    if ttl:
        pipe.pexpire(keys.info, int(ttl * 1000))
        pipe.set(keys.state, mode.value, px=int(ttl * 1000))
    else:
        pipe.set(keys.state, mode.value)
    pipe.publish(keys.events, mode.value)
    pipe.execute()


def set_open(client: redis.Redis, keys: Keys) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.set(keys.state, Mode.OPEN.value)
    pipe.delete(keys.info)
    pipe.publish(keys.events, Mode.OPEN.value)
    pipe.execute()


def keepalive_value(hosts: Sequence[str] = ()) -> str:
    """``off`` for every host, ``off:web-1,web-2`` for only those (see ``Keys``)."""
    return "off:" + ",".join(hosts) if hosts else "off"


def set_keepalive_off(
    client: redis.Redis, keys: Keys, hosts: Sequence[str] = (), *, ttl: float
) -> None:
    """Tell the gates (of ``hosts``, or all) to close connections, for ``ttl`` seconds."""
    pipe = client.pipeline(transaction=True)
    pipe.set(keys.keepalive, keepalive_value(hosts), px=int(ttl * 1000))
    pipe.publish(keys.events, "keepalive")
    pipe.execute()


def restore_keepalive(client: redis.Redis, keys: Keys) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.keepalive)
    pipe.publish(keys.events, "keepalive")
    pipe.execute()


def group_processes(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live processes by host, then release: ``{"host", "release", "ids"}`` each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for report in reports:
        proc_id = str(report["id"])
        key = (process_host(proc_id), str(report.get("release", "")))
        groups.setdefault(key, []).append(proc_id)
    return [
        {"host": host, "release": release, "ids": ids}
        for (host, release), ids in sorted(groups.items())
    ]


@dataclass
class Status:
    state: str
    mode: str
    ttl: float | None
    info: dict[str, str]
    lock_holder: str | None
    lock_ttl: float | None
    keepalive: str | None = None
    """The raw ``<prefix>:keepalive`` value (``None``: absent, connections kept alive)."""
    processes: list[dict[str, Any]] = field(default_factory=list)
    handoff: str | None = None
    """The raw ``<prefix>:handoff`` value: the release other releases redirect to."""

    def as_dict(self) -> dict[str, Any]:
        lock = {"holder": self.lock_holder, "ttl": self.lock_ttl} if self.lock_holder else None
        return {
            "state": self.state,
            "mode": self.mode,
            "ttl": self.ttl,
            "info": self.info,
            "lock": lock,
            "keepalive": self.keepalive,
            "handoff": self.handoff,
            "processes": self.processes,
            "groups": group_processes(self.processes),
        }


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_status(client: redis.Redis, keys: Keys) -> Status:
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.state)
    pipe.pttl(keys.state)
    pipe.hgetall(keys.info)
    pipe.get(keys.lock)
    pipe.pttl(keys.lock)
    pipe.get(keys.keepalive)
    pipe.get(keys.handoff)
    raw_state, state_ttl, raw_info, lock, lock_ttl, keepalive, handoff = pipe.execute()
    mode = parse_mode(raw_state)
    return Status(
        state="(absent)" if raw_state is None else _text(raw_state),
        mode=mode.value if mode else "unknown",
        ttl=state_ttl / 1000 if state_ttl and state_ttl > 0 else None,
        info={_text(k): _text(v) for k, v in raw_info.items()},
        lock_holder=_text(lock) if lock is not None else None,
        lock_ttl=lock_ttl / 1000 if lock_ttl and lock_ttl > 0 else None,
        keepalive=_text(keepalive) if keepalive is not None else None,
        processes=read_processes(client, keys),
        handoff=_text(handoff) if handoff is not None else None,
    )
