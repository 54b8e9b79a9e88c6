"""An immutable picture of the shared state, and the parser that builds it from Redis values.

Parsing never raises: Redis is written by people with ``redis-cli`` as well as by the
runner, so every odd value has a documented outcome, and each oddity is returned as a
problem string for the caller to log (once, not per request).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gatekeeper.core.modes import Mode, parse_mode

__all__ = [
    "MAX_MESSAGE",
    "MAX_RETRY_AFTER",
    "RELEASE_CHARS",
    "Snapshot",
    "parse_handoff",
    "parse_keepalive",
    "parse_snapshot",
    "read_snapshot",
]

MAX_MESSAGE = 2000
"""Longer operator messages are cut: the 503 page is not a place for essays."""
MAX_RETRY_AFTER = 86400
"""Retry-After values are clamped to one day."""
_MAX_SHORT = 200
RELEASE_CHARS = r"[A-Za-z0-9._:+/@~-]"
"""The characters of a release name (the ``release`` option; a handoff names one)."""
_RELEASE = re.compile(RELEASE_CHARS + "{1,100}")

RawValue = str | bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state one process acts on. ``source`` says where it came from."""

    mode: Mode
    message: str = ""
    retry_after: int | None = None
    hold_until: float | None = None
    since: float | None = None
    owner: str = ""
    generation: str = ""
    ttl: float | None = None
    """The runner's lease: it renews the state at least this often (info field ``ttl``)."""
    source: str = "redis"
    """``redis``; ``unknown`` (the state value was not a mode); ``unreachable``
    (Redis was lost for longer than ``stale_timeout``); ``startup`` (never read)."""
    closing: bool = False
    """Keep-alive is off for this process (``<prefix>:keepalive``): every response it
    sends ends its connection."""
    handoff: bool = False
    """Another release takes this process's requests (``<prefix>:handoff``): it answers
    them with a redirect instead of running them. Implies :attr:`closing`."""
    handoff_at: float | None = field(default=None, compare=False)
    """When this process learned of the handoff (epoch seconds; the gate's pacing)."""
    plain: bool = field(init=False, compare=False)
    """``open``, keep-alive on, no handoff: the adapters' fast path, one attribute to test."""

    def __post_init__(self) -> None:
        if self.handoff and not self.closing:
            object.__setattr__(self, "closing", True)
        object.__setattr__(self, "plain", self.mode is Mode.OPEN and not self.closing)


def _text(raw: RawValue) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _number(raw: RawValue) -> float | None:
    try:
        value = float(_text(raw).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_snapshot(
    raw_state: RawValue | None,
    raw_info: Mapping[RawValue, RawValue] | None,
    *,
    unknown_mode: Mode,
) -> tuple[Snapshot, list[str]]:
    """Build a snapshot from ``GET <prefix>:state`` and ``HGETALL <prefix>:info``.

    An unknown state value becomes ``unknown_mode`` (the gate's ``fail_mode``). Info
    fields with the wrong type are ignored, out-of-range numbers are clamped.
    """
    problems: list[str] = []
    mode = parse_mode(raw_state)
    source = "redis"
    if mode is None:
        problems.append(
            f"unknown state value {_text(raw_state or b'')[:_MAX_SHORT]!r}; "
            f"expected open, hold, readonly or maintenance; acting as {unknown_mode.value}"
        )
        mode, source = unknown_mode, "unknown"

    info = {_text(k): v for k, v in (raw_info or {}).items()}
    message = _text(info.get("message", b"")).strip()[:MAX_MESSAGE]

    retry_after: int | None = None
    if "retry_after" in info:
        number = _number(info["retry_after"])
        if number is None:
            problems.append(f"info field retry_after={_text(info['retry_after'])[:40]!r} ignored")
        else:
            retry_after = int(min(max(math.ceil(number), 0), MAX_RETRY_AFTER))

    times: dict[str, float | None] = {}
    for name in ("hold_until", "since", "ttl"):
        times[name] = None
        if name in info:
            times[name] = _number(info[name])
            if times[name] is None:
                problems.append(f"info field {name}={_text(info[name])[:40]!r} ignored")

    snapshot = Snapshot(
        mode=mode,
        message=message,
        retry_after=retry_after,
        hold_until=times["hold_until"],
        since=times["since"],
        owner=_text(info.get("owner", b""))[:_MAX_SHORT],
        generation=_text(info.get("generation", b""))[:_MAX_SHORT],
        ttl=times["ttl"] if times["ttl"] and times["ttl"] > 0 else None,
        source=source,
    )
    return snapshot, problems


def parse_keepalive(raw: RawValue | None, host: str) -> tuple[bool, str | None]:
    """Whether ``<prefix>:keepalive`` turns keep-alive off for a process on ``host``.

    ``off`` means every host; ``off:web-1,web-2`` only those (first labels, any case).
    Absent, empty or ``on`` means on. Anything else also means on, with a problem to log:
    closing connections is a courtesy to clients, never worth acting on a typo for.
    """
    if raw is None:
        return False, None
    text = _text(raw).strip().lower()
    if text in ("", "on"):
        return False, None
    if text == "off":
        return True, None
    if text.startswith("off:"):
        hosts = {part.strip().split(".")[0] for part in text[4:].split(",") if part.strip()}
        if hosts:
            return host.lower() in hosts, None
    return False, (
        f"unknown keepalive value {text[:_MAX_SHORT]!r}; expected off or off:HOST[,HOST...]; "
        "keeping connections alive"
    )


def parse_handoff(raw: RawValue | None, release: str) -> tuple[bool, str | None]:
    """Whether ``<prefix>:handoff`` tells a process of ``release`` to hand its requests off.

    The value names the release that takes them: every process of another release hands
    off, one of that release never does. Absent or empty means no handoff. A value that
    is not a release name is ignored, with a problem to log: redirecting on a typo could
    send clients round in circles, while ignoring it only keeps today's behaviour.
    """
    if raw is None:
        return False, None
    text = _text(raw).strip()
    if not text:
        return False, None
    if not _RELEASE.fullmatch(text):
        return False, (f"handoff value {text[:_MAX_SHORT]!r} is not a release name; ignoring it")
    return text != release, None


def read_snapshot(
    raw_state: RawValue | None,
    raw_info: Mapping[RawValue, RawValue] | None,
    raw_keepalive: RawValue | None,
    raw_handoff: RawValue | None,
    *,
    unknown_mode: Mode,
    host: str,
    release: str,
    previous: Snapshot | None,
    now: float,
) -> tuple[Snapshot, list[str]]:
    """The snapshot for one process from one read of its four keys, and the problems.

    ``previous`` carries over when the process learned of a handoff still in force;
    ``now`` (epoch seconds) is when it learns of a new one."""
    snapshot, problems = parse_snapshot(raw_state, raw_info, unknown_mode=unknown_mode)
    closing, problem = parse_keepalive(raw_keepalive, host)
    handoff, handoff_problem = parse_handoff(raw_handoff, release)
    problems.extend(p for p in (problem, handoff_problem) if p)
    if not (closing or handoff):
        return snapshot, problems
    learned = previous.handoff_at if previous is not None and previous.handoff else None
    snapshot = dataclasses.replace(
        snapshot, closing=closing, handoff=handoff,
        handoff_at=(learned or now) if handoff else None,
    )  # fmt: skip
    return snapshot, problems


def keep_vanished(previous: Snapshot | None, vanished_for: float) -> bool:
    """Whether to keep ``previous`` although the state key is now absent.

    Only after a reconnection: Redis may have restarted empty in the middle of a
    migration. A runner's state carries its lease (``ttl``) and the runner re-creates it
    within that time, so the hold is kept that long instead of letting held requests
    into a half-migrated app. A state without a lease (set by hand) is not kept.
    """
    if previous is None or previous.mode is Mode.OPEN or previous.ttl is None:
        return False
    return vanished_for < previous.ttl
