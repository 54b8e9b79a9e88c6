"""A run's restart and release waits: ``--restart``, ``--await-release`` and ``--handoff``.

After the migration, still holding, the runner restarts the app (CMD), waits until the
new release reports in on every host that served before, and opens. With a handoff the
open also names that release in ``<prefix>:handoff``: processes of any other release then
redirect what they hold, and what still reaches them, until their server retires them.
The runner waits for that, renewing the key's TTL, then deletes the key, so a dead runner
leaves it at most one TTL.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from gatekeeper.runner.command import SignalTrap
from gatekeeper.runner.options import RunResult
from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import process_host, read_processes, read_retired, tally

__all__ = ["HandoffWait", "hosts_without", "old_processes", "wait_for_release"]

Report = dict[str, Any]


def hosts_without(reports: list[Report], release: str, hosts: Iterable[str]) -> list[str]:
    """Those of ``hosts`` where no live process reports ``release``, sorted."""
    have = {process_host(str(r["id"])) for r in reports if str(r.get("release", "")) == release}
    return sorted(set(hosts) - have)


def old_processes(reports: list[Report], release: str) -> list[Report]:
    """Live processes of any release but ``release``."""
    return [r for r in reports if str(r.get("release", "")) != release]


def wait_for_release(
    client: redis.Redis,
    keys: Keys,
    *,
    release: str,
    hosts: Iterable[str],
    timeout: float,
    trap: SignalTrap,
    progress: Progress,
    tick: Callable[[], None],
) -> list[str]:
    """Wait until ``release`` is live on every one of ``hosts``; the hosts still without
    it when ``timeout`` passed or a signal came (empty: done). Redis errors are waited
    out within the same timeout: the lease keeps the hold meanwhile."""
    wanted = sorted(set(hosts))
    deadline = time.monotonic() + timeout
    missing = wanted
    while True:
        with contextlib.suppress(redis.RedisError):  # the last answer stands meanwhile
            missing = hosts_without(read_processes(client, keys), release, wanted)
        if not missing or time.monotonic() >= deadline or trap.received is not None:
            return missing
        tick()
        progress.live_line(f"waiting for release {release} on {', '.join(missing)}")
        trap.event.wait(0.02)


class HandoffWait:
    """After a handoff's open: wait for the old processes to leave, keeping the key alive.

    :attr:`seen` keeps the last totals each process reported, so the run's summary still
    counts what an old process handed off after it has gone.
    """

    def __init__(self, client: redis.Redis, keys: Keys, release: str, ttl: float) -> None:
        self.client, self.keys, self.release, self.ttl = client, keys, release, ttl
        self.seen: dict[str, dict[str, int]] = {}
        self.left: list[Report] = []
        self._final: set[str] = set()
        """Processes whose last report (written as they left) has been counted."""

    def finish(
        self, timeout: float, trap: SignalTrap, progress: Progress, result: RunResult
    ) -> dict[str, dict[str, int]]:
        """After the open: wait for the old processes, then clear; their last totals."""
        progress.phase(
            f"handoff: processes of other releases redirect to {self.release}; "
            f"waiting for them to leave (at most {timeout:g}s)",
            "runner.handoff", release=self.release, timeout_seconds=timeout,
        )  # fmt: skip
        stragglers = self.wait(timeout, trap, progress)
        result.handoff_ended_at = round(time.time(), 4)
        if stragglers:
            result.stragglers = stragglers
            progress.note(
                f"handoff: {len(stragglers)} old processes still live; from now on they run "
                "what reaches them: " + ", ".join(stragglers),
                "runner.handoff_stragglers", stragglers=stragglers,
            )  # fmt: skip
        if not self.clear():
            progress.note(
                f"handoff: could not clear it; it expires within {self.ttl:g}s",
                "runner.handoff_clear_failed", ttl_seconds=self.ttl,
            )  # fmt: skip
        return self.seen

    def wait(self, timeout: float, trap: SignalTrap, progress: Progress) -> list[str]:
        """Ids of old processes still live when ``timeout`` passed (empty: all gone)."""
        deadline = time.monotonic() + timeout
        renewed = time.monotonic()
        while True:
            try:
                reports = read_processes(self.client, self.keys)
                live = {str(r["id"]) for r in reports}
                gone = [i for i in self.seen if i not in live and i not in self._final]
                for report in read_retired(self.client, self.keys, gone):
                    self._final.add(str(report["id"]))
                    reports.append(report)
                self.seen.update(tally(reports))
                self.left = old_processes(
                    [r for r in reports if str(r["id"]) in live], self.release
                )
            except redis.RedisError:
                pass
            if not self.left or time.monotonic() >= deadline or trap.received is not None:
                return [str(r["id"]) for r in self.left]
            if time.monotonic() - renewed >= self.ttl / 3:
                self._renew()
                renewed = time.monotonic()
            held = sum(int(r.get("held", 0)) for r in self.left)
            progress.live_line(f"handoff: {len(self.left)} old processes live, {held} held")
            trap.event.wait(0.02)

    def _renew(self) -> None:
        # A failed renewal is retried at the next; if all fail, the key expires, as designed.
        with contextlib.suppress(redis.RedisError):
            self.client.pexpire(self.keys.handoff, int(self.ttl * 1000))

    def clear(self) -> bool:
        """Delete the key and tell every gate; ``False`` if Redis would not (it expires)."""
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(self.keys.handoff)
            pipe.publish(self.keys.events, "handoff")
            pipe.execute()
        except redis.RedisError:
            return False
        return True
