"""What the watcher thread logs: each problem once, never a password.

The watcher runs in every web process, so a problem that lasts (Redis down, a bad state
value) must not log on every poll: each is logged when it begins and, where it matters,
when it ends.
"""

from __future__ import annotations

import logging
import traceback

from gatekeeper._parsers import redact_url
from gatekeeper._redis_urls import parse_target
from gatekeeper.state.snapshot import Snapshot

__all__ = ["WatcherLog", "log"]

log = logging.getLogger("gatekeeper")


class WatcherLog:
    def __init__(self, redis_url: str, state_key: str) -> None:
        self.url = redact_url(redis_url)
        self._secrets = parse_target(redis_url).secrets()
        self._state_key = state_key
        self._problems: frozenset[str] = frozenset()
        self._bug = ""

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def describe(self, exc: BaseException) -> str:
        return self.redact(f"{exc.__class__.__name__}: {exc}"[:300])

    def unreachable(self, exc: BaseException, kept: str | None, stale: float, fail: str) -> None:
        log.warning(
            "gatekeeper: Redis unreachable at %s (%s); %s",
            self.url,
            self.describe(exc),
            f"keeping state {kept!r} for up to {stale:g}s"
            if kept
            else f"acting as {fail} until it answers",
        )

    def reachable_again(self) -> None:
        log.warning("gatekeeper: Redis reachable again at %s", self.url)

    def vanished(self, kept: Snapshot | None) -> None:
        log.warning(
            "gatekeeper: %s vanished after a reconnection (Redis restarted?); "
            "keeping %s for up to %.1fs for its runner to restore it",
            self._state_key,
            kept.mode.value if kept else "?",
            kept.ttl if kept and kept.ttl else 0.0,
        )

    def no_keyspace(self, exc: BaseException) -> None:
        log.warning(
            "gatekeeper: Redis refused the keyspace notification channels (%s); "
            "listening on the events channel only: a bare SET or DEL of %s takes effect "
            "within poll_interval, a PUBLISH at once",
            self.describe(exc),
            self._state_key,
        )

    def failing(self, lost_for: float, fail_mode: str) -> None:
        log.error("gatekeeper: Redis lost for %.1fs; failing %s", lost_for, fail_mode)

    def state_changed(self, before: Snapshot | None, after: Snapshot) -> None:
        was = before.mode.value if before else "(start)"
        log.info("gatekeeper: state %s -> %s (%s)", was, after.mode.value, after.source)

    def read_ok(self) -> None:
        self._bug = ""

    def bug(self, exc: BaseException) -> None:
        """Not Redis: gatekeeper's own fault, logged once per distinct error."""
        what = self.describe(exc)
        if what == self._bug:
            return
        self._bug = what
        trace = self.redact("".join(traceback.format_exception(exc)).rstrip())
        log.error(
            "gatekeeper: the watcher failed (%s); retrying. This is a bug in gatekeeper, "
            "please report it:\n%s",
            what,
            trace,
        )

    def problems(self, problems: list[str]) -> None:
        current = frozenset(problems)
        for problem in sorted(current - self._problems):
            log.error("gatekeeper: %s: %s", self._state_key, problem)
        self._problems = current
