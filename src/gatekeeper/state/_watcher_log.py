"""What the watcher thread logs: each problem once, never a password.

The watcher runs in every web process, so a problem that lasts (Redis down, a bad state
value) must not log on every poll: each is logged when it begins and, where it matters,
when it ends. Each line is also an event (:mod:`gatekeeper.events`, ``watcher.*`` and
``state.invalid``) carrying the redacted Redis URL and the process's id, so that a log
system can follow one process's view of Redis across a fleet.
"""

from __future__ import annotations

import ast
import logging
import re
import time
import traceback
from typing import Any

from gatekeeper._parsers import redact_url
from gatekeeper._redis_urls import parse_target
from gatekeeper.events import emit
from gatekeeper.state.snapshot import Snapshot

__all__ = ["WatcherLog", "log", "problem_fields"]

log = logging.getLogger("gatekeeper")

_MAX_VALUE = 200
_REPR = r"(?P<value>'.*'|\".*\")"
# The problems parse_snapshot and read_snapshot name, each with the value it quotes (a
# repr, already cut short). Their wording is stable: users match it, and tests pin it.
_PROBLEMS = (
    ("state", re.compile(rf"unknown state value {_REPR}; expected .*", re.DOTALL)),
    ("info", re.compile(rf"info field (?P<field>\w+)={_REPR} ignored", re.DOTALL)),
    ("keepalive", re.compile(rf"unknown keepalive value {_REPR}; expected .*", re.DOTALL)),
    ("handoff", re.compile(rf"handoff value {_REPR} is not a release name.*", re.DOTALL)),
)


def problem_fields(problem: str) -> dict[str, Any]:
    """``state.invalid``'s fields for one problem: which key (``state``, ``info``,
    ``keepalive``, ``handoff``), the info ``field``, and the offending ``value`` as text
    (``None`` for a problem of another wording). The value came from Redis: it is
    untrusted, so it stays a string for the formatter to encode, cut at 200 characters."""
    for key, pattern in _PROBLEMS:
        match = pattern.fullmatch(problem)
        if match is None:
            continue
        try:
            value = ast.literal_eval(match["value"])
        except (ValueError, SyntaxError):
            value = match["value"]
        field = match.groupdict().get("field")
        return {"key": key, "field": field, "value": str(value)[:_MAX_VALUE]}
    return {"key": None, "field": None, "value": None}


class WatcherLog:
    def __init__(self, redis_url: str, state_key: str, process: str = "") -> None:
        self.url = redact_url(redis_url)
        self._secrets = parse_target(redis_url).secrets()
        self._state_key = state_key
        self._process = process
        self._problems: frozenset[str] = frozenset()
        self._bug = ""
        self._connected_once = False
        self._lost_at: float | None = None

    def _emit(self, event: str, message: str, level: int, **fields: Any) -> None:
        emit(event, message, level=level, redis=self.url, process=self._process or None, **fields)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def describe(self, exc: BaseException) -> str:
        return self.redact(f"{exc.__class__.__name__}: {exc}"[:300])

    def connected(self) -> None:
        """The first successful read of this process (later ones are recoveries)."""
        if self._connected_once:
            return
        self._connected_once = True
        self._emit(
            "watcher.connected",
            f"gatekeeper: watching {self._state_key} at {self.url}",
            logging.INFO,
            key=self._state_key,
        )

    def unreachable(self, exc: BaseException, kept: str | None, stale: float, fail: str) -> None:
        self._lost_at = time.monotonic()
        keeping = (
            f"keeping state {kept!r} for up to {stale:g}s"
            if kept
            else f"acting as {fail} until it answers"
        )
        self._emit(
            "watcher.lost",
            f"gatekeeper: Redis unreachable at {self.url} ({self.describe(exc)}); {keeping}",
            logging.WARNING,
            error=self.describe(exc), kept_state=kept, stale_timeout_seconds=stale,
            fail_mode=fail,
        )  # fmt: skip
        if kept:
            # Its own event, so that a log system can alert on "serving a stale state"
            # without parsing the lost event's text; at INFO, as the warning said it.
            self._emit(
                "watcher.stale",
                f"gatekeeper: serving the last known state {kept!r} for up to {stale:g}s "
                "(stale_timeout) until Redis answers",
                logging.INFO,
                kept_state=kept, stale_timeout_seconds=stale,
            )  # fmt: skip

    def reachable_again(self) -> None:
        lost_at, self._lost_at = self._lost_at, None
        lost_for = round(time.monotonic() - lost_at, 3) if lost_at is not None else None
        self._emit(
            "watcher.recovered",
            f"gatekeeper: Redis reachable again at {self.url}",
            logging.WARNING,
            lost_seconds=lost_for,
        )

    def vanished(self, kept: Snapshot | None) -> None:
        mode = kept.mode.value if kept else "?"
        keep = kept.ttl if kept and kept.ttl else 0.0
        self._emit(
            "watcher.vanished",
            f"gatekeeper: {self._state_key} vanished after a reconnection (Redis restarted?); "
            f"keeping {mode} for up to {keep:.1f}s for its runner to restore it",
            logging.WARNING,
            key=self._state_key, kept_state=kept.mode.value if kept else None,
            keep_seconds=keep,
        )  # fmt: skip

    def no_keyspace(self, exc: BaseException) -> None:
        self._emit(
            "watcher.keyspace_refused",
            "gatekeeper: Redis refused the keyspace notification channels "
            f"({self.describe(exc)}); listening on the events channel only: a bare SET or "
            f"DEL of {self._state_key} takes effect within poll_interval, a PUBLISH at once",
            logging.WARNING,
            error=self.describe(exc),
        )

    def failing(self, lost_for: float, fail_mode: str) -> None:
        self._emit(
            "watcher.failed_open" if fail_mode == "open" else "watcher.failed_closed",
            f"gatekeeper: Redis lost for {lost_for:.1f}s; failing {fail_mode}",
            logging.ERROR,
            lost_seconds=round(lost_for, 3), fail_mode=fail_mode,
        )  # fmt: skip

    def state_changed(self, before: Snapshot | None, after: Snapshot) -> None:
        was = before.mode.value if before else "(start)"
        self._emit(
            "watcher.state_changed",
            f"gatekeeper: state {was} -> {after.mode.value} ({after.source})",
            logging.INFO,
            **{"from": before.mode.value if before else None, "to": after.mode.value},
            source=after.source,
        )

    def read_ok(self) -> None:
        self._bug = ""

    def bug(self, exc: BaseException) -> None:
        """Not Redis: gatekeeper's own fault, logged once per distinct error."""
        what = self.describe(exc)
        if what == self._bug:
            return
        self._bug = what
        trace = self.redact("".join(traceback.format_exception(exc)).rstrip())
        self._emit(
            "watcher.bug",
            f"gatekeeper: the watcher failed ({what}); retrying. This is a bug in gatekeeper, "
            f"please report it:\n{trace}",
            logging.ERROR,
            error=what,
        )

    def problems(self, problems: list[str]) -> None:
        current = frozenset(problems)
        for problem in sorted(current - self._problems):
            self._emit(
                "state.invalid",
                f"gatekeeper: {self._state_key}: {problem}",
                logging.ERROR,
                problem=problem, state_key=self._state_key, **problem_fields(problem),
            )  # fmt: skip
        self._problems = current
