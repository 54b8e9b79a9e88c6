"""``gatekeeper reload``: restart the app's processes without losing a request in flight
on a kept-alive connection.

A server that stops a process closes that process's idle kept-alive connections, and a
request a client (or nginx) is sending on one of them at that moment is lost: the client
sees a reset, nginx a 502. Only the app can end a connection cleanly, by sending
``Connection: close`` on a response. So the reload, holding the run-migration lock:

1. turns keep-alive off on the targeted gates (``<prefix>:keepalive``, with a TTL it
   renews, so a reload that dies cannot leave it off);
2. waits until every targeted live process has acknowledged, then ``close_for`` seconds:
   every connection that carried a request meanwhile was closed after its response, and
   one idle all along was closed by the server's own keep-alive timeout;
3. runs COMMAND (output streamed, signals forwarded);
4. waits until the processes that were live before COMMAND have left, every host that
   had processes has some again and, with ``await_release``, every live process of the
   targeted hosts reports that release;
5. turns keep-alive back on.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import redis

from gatekeeper._masking import mask_text
from gatekeeper.runner._events import command_phase, lease_note, locked, reload_done
from gatekeeper.runner.command import SignalTrap, run_supervised
from gatekeeper.runner.lease import HoldLease, LeaseEvent
from gatekeeper.runner.migration import EXIT_UNPROTECTED
from gatekeeper.runner.options import DEFAULT_CLOSE_FOR, ReloadOptions, ReloadResult
from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import process_host, read_processes
from gatekeeper.state.store import identity, restore_keepalive, set_keepalive_off

__all__ = ["DEFAULT_CLOSE_FOR", "ReloadOptions", "ReloadResult", "reload"]

Report = dict[str, Any]


def reload(
    client: redis.Redis, keys: Keys, opts: ReloadOptions, progress: Progress
) -> ReloadResult:
    trap = SignalTrap()
    with trap.installed():
        return _Reload(client, keys, opts, progress, trap).run()


def _host(report: Report) -> str:
    return process_host(str(report["id"]))


class _Reload:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        opts: ReloadOptions,
        progress: Progress,
        trap: SignalTrap,
    ) -> None:
        self.client, self.keys, self.opts, self.progress, self.trap = (
            client, keys, opts, progress, trap,
        )  # fmt: skip
        self.result = ReloadResult(exit_code=0, hosts=list(opts.hosts))
        self.lease = HoldLease(
            client, keys, token=f"{identity()}:{secrets.token_hex(3)}", ttl=opts.ttl,
            on_event=self._note_event,
        )  # fmt: skip
        self._renewed = 0.0

    # -- phases ---------------------------------------------------------------------

    def run(self) -> ReloadResult:
        started = time.monotonic()
        before = self._targeted(read_processes(self.client, self.keys))
        if not self._covered(before):
            return self.result
        self.lease.acquire()
        locked("reload", self.keys.lock, self.lease.token)
        self.lease.start()
        try:
            self._reload(before)
        finally:
            self.lease.stop()
            self._restore()
            self.lease.release()
            self.result.seconds = round(time.monotonic() - started, 3)
            self.progress.close()
        reload_done(self.result)
        return self.result

    def _reload(self, before: list[Report]) -> None:
        opts, result = self.opts, self.result
        where = "on " + ", ".join(opts.hosts) if opts.hosts else "on every host"
        set_keepalive_off(self.client, self.keys, opts.hosts, ttl=opts.ttl)
        self._renewed = time.monotonic()
        self.progress.phase(
            f"keep-alive off {where} ({len(before)} processes)", "reload.keepalive_off",
            hosts=list(opts.hosts), processes=len(before),
        )  # fmt: skip
        self._wait_acknowledged()
        if self._interrupted():
            return
        self.progress.phase(
            f"closing kept-alive connections for {opts.close_for:g}s", "reload.closing",
            close_for_seconds=opts.close_for,
        )  # fmt: skip
        closes_at = time.monotonic() + opts.close_for
        while not self.trap.event.wait(max(0.0, min(0.1, closes_at - time.monotonic()))):
            left = closes_at - time.monotonic()
            if left <= 0:
                break
            self._renew()
            self.progress.live_line(f"{left:4.1f}s left")
        result.closed_for = opts.close_for
        if self._interrupted():
            return
        # Who must leave: every targeted process live now, just before COMMAND.
        old = self._targeted(read_processes(self.client, self.keys))
        command_phase(self.progress, "running", opts.command, "reload.restarting")
        try:
            status = run_supervised(opts.command, self.trap, self._renew)
        except OSError as exc:
            self.progress.note(
                f"cannot start COMMAND: {exc}", "reload.command_not_started",
                level=logging.ERROR, log_text=mask_text(f"cannot start COMMAND: {exc}"),
                error=mask_text(str(exc)),
            )  # fmt: skip
            status = 127
        result.exit_code = result.command_status = status
        if self._interrupted():
            return
        if status != 0:
            result.outcome = "failed"
            self.progress.note(
                f"COMMAND exited {status}: not waiting for new processes",
                "reload.command_failed", exit_code=status,
            )  # fmt: skip
            return
        self._wait_replaced(old, {_host(report) for report in before})

    def _covered(self, before: list[Report]) -> bool:
        """A named host without live processes is a typo or a host that is down: refuse."""
        seen = {_host(report) for report in before}
        missing = [host for host in self.opts.hosts if host not in seen]
        if missing:
            self.result.exit_code, self.result.outcome = EXIT_UNPROTECTED, "no-processes"
            self.progress.note(
                f"refusing to reload: no live gate process on {', '.join(missing)} at "
                f"{self.opts.redis_label or 'this Redis'}; COMMAND not run",
                "reload.refused", missing=missing, redis=self.opts.redis_label or None,
            )  # fmt: skip
            return False
        if not before:
            self.result.notes.append("no gate process reported in: nothing to close")
            self.progress.note(
                "WARNING: no gate process reports in: keep-alive cannot be turned off "
                "anywhere, and COMMAND runs as it would without gatekeeper",
                "reload.unprotected",
            )
        return True

    def _wait_acknowledged(self) -> None:
        deadline = time.monotonic() + self.opts.timeout
        while True:
            live = self._targeted(read_processes(self.client, self.keys))
            waiting = [r for r in live if r.get("keepalive") != "off"]
            self.result.acknowledged = len(live) - len(waiting)
            if not waiting:
                self.result.unacknowledged = []
                return
            if time.monotonic() >= deadline or self._interrupted():
                self.result.unacknowledged = [str(r["id"]) for r in waiting]
                self.progress.note(
                    f"not acknowledged after {self.opts.timeout:g}s (going on): "
                    + ", ".join(self.result.unacknowledged),
                    "reload.unacknowledged", processes=self.result.unacknowledged,
                    timeout_seconds=self.opts.timeout,
                )  # fmt: skip
                return
            self._renew()
            self.progress.live_line(f"acknowledged {len(live) - len(waiting)}/{len(live)}")
            self.trap.event.wait(0.01)

    def _wait_replaced(self, old: list[Report], hosts: set[str]) -> None:
        opts, result = self.opts, self.result
        wanted = opts.await_release
        self.progress.phase(
            "waiting for the new processes"
            + (f" of release {wanted}" if wanted else "")
            + f" (at most {opts.timeout:g}s)",
            "reload.waiting", release=wanted, timeout_seconds=opts.timeout,
        )  # fmt: skip
        old_ids = {str(report["id"]) for report in old}
        deadline = time.monotonic() + opts.timeout
        while True:
            live = self._targeted(read_processes(self.client, self.keys))
            stragglers = _stragglers(live, old_ids, hosts, wanted)
            result.releases = _releases(live)
            if not stragglers:
                result.stragglers = []
                result.outcome = "success"
                self.progress.phase(
                    _summary(live), "reload.replaced", processes=len(live), releases=result.releases
                )
                return
            if time.monotonic() >= deadline or self._interrupted():
                result.stragglers = stragglers
                self.progress.note(
                    f"after {opts.timeout:g}s still waiting for: " + "; ".join(stragglers),
                    "reload.timeout", stragglers=stragglers, timeout_seconds=opts.timeout,
                )  # fmt: skip
                if self._interrupted():
                    return
                result.outcome = "release-timeout" if wanted else "not-replaced"
                if wanted:
                    result.exit_code = EXIT_UNPROTECTED
                return
            self._renew()
            self.progress.live_line(f"{len(live)} live, waiting for {len(stragglers)}")
            self.trap.event.wait(0.02)

    # -- helpers --------------------------------------------------------------------

    def _targeted(self, reports: list[Report]) -> list[Report]:
        if not self.opts.hosts:
            return reports
        return [report for report in reports if _host(report) in self.opts.hosts]

    def _renew(self) -> None:
        if time.monotonic() - self._renewed >= self.opts.ttl / 3:
            self.client.pexpire(self.keys.keepalive, int(self.opts.ttl * 1000))
            self._renewed = time.monotonic()

    def _restore(self) -> None:
        for attempt in range(10):
            try:
                restore_keepalive(self.client, self.keys)
                self.progress.phase("keep-alive back on", "reload.keepalive_on")
                return
            except redis.RedisError as exc:
                if attempt == 0:
                    self.progress.note(
                        f"cannot turn keep-alive back on ({exc!r}); retrying",
                        "reload.keepalive_retry", error=exc.__class__.__name__,
                    )  # fmt: skip
                time.sleep(min(0.05 * 2**attempt, 1.0))
        self.progress.note(
            f"keep-alive stays off until its key expires ({self.opts.ttl:g}s)",
            "reload.keepalive_failed", level=logging.ERROR, ttl_seconds=self.opts.ttl,
        )  # fmt: skip

    def _interrupted(self) -> bool:
        received = self.trap.received
        if received is None:
            return False
        self.result.exit_code, self.result.outcome = 128 + received, "interrupted"
        return True

    def _note_event(self, kind: LeaseEvent, detail: str) -> None:
        self.result.notes.append(lease_note(self.progress, "reload", kind, detail))


def _stragglers(
    live: list[Report], old_ids: set[str], hosts: set[str], wanted: str | None
) -> list[str]:
    """What the reload still waits for, one phrase each (empty: done)."""
    waiting = [f"{r['id']} (from before COMMAND)" for r in live if str(r["id"]) in old_ids]
    if wanted is not None:
        waiting += [
            f"{r['id']} (release {r.get('release') or 'not set'!s})"
            for r in live
            if str(r["id"]) not in old_ids and r.get("release") != wanted
        ]
    new_hosts = {_host(r) for r in live if str(r["id"]) not in old_ids}
    waiting += [f"{host} (no new process yet)" for host in sorted(hosts - new_hosts)]
    return waiting


def _releases(live: list[Report]) -> dict[str, list[str]]:
    """Release -> the hosts running it."""
    found: dict[str, set[str]] = {}
    for report in live:
        found.setdefault(str(report.get("release", "")), set()).add(_host(report))
    return {release: sorted(hosts) for release, hosts in sorted(found.items())}


def _summary(live: list[Report]) -> str:
    parts = [
        f"{release or '(release not set)'} on {', '.join(hosts)}"
        for release, hosts in _releases(live).items()
    ]
    return f"replaced: {len(live)} live processes, " + "; ".join(parts or ["none"])
