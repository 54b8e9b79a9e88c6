"""``gatekeeper run-migration``: hold traffic, drain, migrate, release. Never strand the site.

Phases: check whether anything is pending (optional) and that enough gate processes report
in; take the lock; set the state with a TTL; wait for every live gate process to report it
has drained; run COMMAND; switch to ``maintenance`` if it overruns ``max_hold``; open (or
apply the failure policy); report. :class:`HoldLease` renews the lock and the state's TTL
and makes every state write, so a runner killed outright holds the site one TTL at most.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Sequence

import redis

from gatekeeper._masking import mask_text
from gatekeeper.core.modes import Mode
from gatekeeper.runner._drain import coverage_problem, drain, hosts_of
from gatekeeper.runner._events import command_phase, finished, lease_note, locked, released
from gatekeeper.runner._release import release
from gatekeeper.runner._restart import HandoffWait, wait_for_release
from gatekeeper.runner.command import SignalTrap, describe, run_check, run_supervised
from gatekeeper.runner.lease import HoldLease, LeaseEvent
from gatekeeper.runner.options import RunOptions, RunOutcome, RunResult
from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import current_tally, longest_wait, read_processes, settle
from gatekeeper.state.store import identity, info_fields

__all__ = [
    "EXIT_TEMPFAIL", "EXIT_UNPROTECTED", "EXIT_USAGE", "RunOptions", "RunResult", "run_migration"
]  # fmt: skip

EXIT_USAGE = 2
EXIT_UNPROTECTED = 3
"""The gate could not be made to protect the migration, so COMMAND did not run."""
EXIT_TEMPFAIL = 75
"""``EX_TEMPFAIL``: Redis unreachable or the lock busy; the same call may work later."""


def run_migration(
    client: redis.Redis, keys: Keys, opts: RunOptions, progress: Progress
) -> RunResult:
    trap = SignalTrap()
    with trap.installed():
        result = _Run(client, keys, opts, progress, trap).run()
    if not result.gated:
        finished(result)
    return result


class _Run:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        opts: RunOptions,
        progress: Progress,
        trap: SignalTrap,
    ) -> None:
        self.client, self.keys, self.opts = client, keys, opts
        self.progress, self.trap = progress, trap
        self.result = RunResult(exit_code=0)
        self._next_tick = 0.0
        self._hosts: set[str] = set()
        """Hosts with live processes at the start: ``--await-release`` waits on each."""
        self.lease = HoldLease(
            client, keys, token=f"{identity()}:{secrets.token_hex(3)}", ttl=opts.ttl,
            on_event=self._lease_event,
        )  # fmt: skip

    def run(self) -> RunResult:
        opts, result = self.opts, self.result
        if opts.if_pending:
            check = mask_text(opts.if_pending)
            self.progress.phase(
                f"checking for pending migrations: {check}", "runner.checking_pending", check=check
            )
            result.pending = run_check(opts.if_pending, echo=self.progress.echo) != 0
            if not result.pending:
                self.progress.phase(
                    "nothing pending: running COMMAND without holding traffic", "runner.not_pending"
                )
                return self._ungated("not-pending")
        try:
            self.client.ping()
        except redis.RedisError as exc:
            if not opts.allow_ungated:
                raise
            self.progress.note(
                f"Redis unreachable ({exc.__class__.__name__}); "
                "--allow-ungated: running COMMAND without a gate",
                "runner.ungated", error=exc.__class__.__name__,
            )  # fmt: skip
            return self._ungated("ungated")
        if not self._enough_processes():
            self.result.exit_code, self.result.outcome = EXIT_UNPROTECTED, "too-few-processes"
            self.result.gated = False
            return self.result
        self.lease.acquire()
        locked("runner", self.keys.lock, self.lease.token, mode=opts.mode.value)
        try:
            return self._gated()
        finally:
            self.lease.stop()
            self.lease.release()
            self.progress.close()

    def _ungated(self, outcome: RunOutcome) -> RunResult:
        self.result.gated = False
        self.result.outcome = outcome
        self.result.exit_code = self._run_command(self.opts.command)
        return self.result

    def _gated(self) -> RunResult:
        opts, result = self.opts, self.result
        generation = secrets.token_hex(6)
        started = time.monotonic()
        fields = info_fields(
            message=opts.message, retry_after=opts.retry_after,
            hold_until=time.time() + opts.max_hold, generation=generation, owner=self.lease.token,
            ttl=opts.ttl,
        )  # fmt: skip
        # Counted before the state is set: a request held in between is held by this run.
        before = current_tally(self.client, self.keys)
        self.lease.write(opts.mode, fields, ttl=opts.ttl)
        result.started_at = round(time.time(), 4)
        self.lease.start()
        self.progress.phase(
            f"{opts.mode.value}: traffic gated (ttl {opts.ttl:g}s, max hold {opts.max_hold:g}s)",
            "runner.holding", mode=opts.mode.value, ttl_seconds=opts.ttl,
            max_hold_seconds=opts.max_hold, generation=generation,
        )  # fmt: skip

        drained = drain(
            self.client, self.keys, f"{opts.mode.value}:{generation}",
            opts=opts, result=result, progress=self.progress, trap=self.trap, hosts=self._hosts,
        )  # fmt: skip
        if not drained and opts.strict_drain:
            result.exit_code, result.outcome = EXIT_UNPROTECTED, "drain-timeout"
        elif self.trap.received is not None:
            result.exit_code, result.outcome = 128 + self.trap.received, "interrupted"
        else:
            command_phase(self.progress, "migrating", opts.command, "runner.migrating")
            result.migrate_started_at = round(time.time(), 4)
            overrun_at = started + opts.max_hold
            result.exit_code = self._run_command(opts.command, overrun_at, fields)
            result.migrate_seconds = round(time.monotonic() - started, 3)
            result.migrate_ended_at = round(time.time(), 4)
            if self.trap.received is not None:
                result.outcome = "interrupted"
            elif result.exit_code != 0:
                result.outcome = "failed"
            else:
                result.outcome = self._after_migration(overrun_at, fields)

        handoff = self._release(success=result.outcome == "success")
        result.held_seconds = round(time.monotonic() - started, 3)
        seen = None
        if handoff is not None:
            seen = handoff.finish(opts.release_timeout, self.trap, self.progress, result)
        result.requests, reports = settle(
            self.client, self.keys, before, result.final_state, seen=seen
        )
        result.longest_wait_seconds = longest_wait(reports)
        released(self.progress, opts, result)
        return result

    def _after_migration(self, overrun_at: float, fields: dict[str, str]) -> RunOutcome:
        """``--restart`` and ``--await-release``, still holding: the run's outcome."""
        opts, result = self.opts, self.result
        if opts.restart:
            command_phase(self.progress, "restarting", opts.restart, "runner.restarting")
            status = result.restart_status = self._run_command(opts.restart, overrun_at, fields)
            if self.trap.received is not None:
                return "interrupted"
            if status != 0:
                result.exit_code = status
                self.progress.note(
                    f"the restart exited {status}: not waiting for new processes",
                    "runner.restart_failed", exit_code=status,
                )  # fmt: skip
                return "restart-failed"
        if opts.await_release:
            self.progress.phase(
                f"waiting for release {opts.await_release} on {', '.join(self._hosts) or 'no host'}"
                f" (at most {opts.release_timeout:g}s)", "runner.awaiting_release",
                release=opts.await_release, hosts=sorted(self._hosts),
                timeout_seconds=opts.release_timeout,
            )  # fmt: skip
            missing = wait_for_release(
                self.client, self.keys, release=opts.await_release, hosts=self._hosts,
                timeout=opts.release_timeout, trap=self.trap, progress=self.progress,
                tick=lambda: self._tick(overrun_at, fields),
            )  # fmt: skip
            if self.trap.received is not None:
                return "interrupted"
            if missing:
                result.stragglers = missing
                result.exit_code = EXIT_UNPROTECTED
                self.progress.note(
                    f"release {opts.await_release} not live on {', '.join(missing)} after "
                    f"{opts.release_timeout:g}s" + ("; no handoff" if opts.handoff else ""),
                    "runner.release_timeout", release=opts.await_release, missing=missing,
                    timeout_seconds=opts.release_timeout,
                )  # fmt: skip
                return "release-timeout"
            result.release_ready_at = round(time.time(), 4)
        return "success"

    def _enough_processes(self) -> bool:
        """``--min-processes`` and ``--expect-host``: checked before anything is held."""
        reports = read_processes(self.client, self.keys)
        self.result.processes = len(reports)
        self.result.hosts = hosts_of(reports)
        self._hosts.update(self.result.hosts)
        problem = coverage_problem(
            reports, min_processes=self.opts.min_processes, hosts=self.opts.expect_hosts
        )
        if problem is None:
            return True
        where = self.opts.redis_label or "this Redis"
        self.progress.note(
            f"refusing to migrate: {problem} at {where}; COMMAND not run", "runner.refused",
            problem=problem, processes=len(reports), hosts=self.result.hosts, redis=where,
        )  # fmt: skip
        return False

    def _run_command(
        self,
        argv: Sequence[str],
        overrun_at: float | None = None,
        fields: dict[str, str] | None = None,
    ) -> int:
        try:
            return run_supervised(list(argv), self.trap, lambda: self._tick(overrun_at, fields))
        except OSError as exc:
            masked = describe(argv, masked=True)
            self.progress.note(
                mask_text(f"cannot start {masked}: {exc}"), "runner.command_not_started",
                level=logging.ERROR,
                command=masked, error=mask_text(str(exc)),
            )  # fmt: skip
            return 127

    def _tick(self, overrun_at: float | None, fields: dict[str, str] | None) -> None:
        """Every 50 ms while COMMAND, the restart or a wait runs: overrun, then display."""
        if overrun_at is None:
            return
        now = time.monotonic()
        if now >= overrun_at and not self.result.overrun:
            self._overrun(fields or {})
        if now >= self._next_tick:
            self._next_tick = now + 0.25
            with contextlib.suppress(redis.RedisError):  # the display can wait
                self.progress.tick(
                    sum(int(r.get("held", 0)) for r in read_processes(self.client, self.keys))
                )

    def _overrun(self, fields: dict[str, str]) -> None:
        self.result.overrun = True
        if self.lease.overridden is not None:
            return
        message = self.opts.message or "The upgrade is taking longer than expected."
        new_fields = {**fields, "message": message, "retry_after": str(self.opts.retry_after or 10)}
        new_fields.pop("hold_until", None)
        try:
            if not self.lease.write(Mode.MAINTENANCE, new_fields, ttl=self.opts.ttl):
                return  # an operator's state was there: the lease has said so
        except redis.RedisError as exc:
            self.progress.note(
                f"could not switch to maintenance: {exc.__class__.__name__}",
                "runner.overrun_failed", level=logging.ERROR, error=exc.__class__.__name__,
            )  # fmt: skip
            return
        self.progress.phase(
            f"overrun: COMMAND still running after {self.opts.max_hold:g}s; "
            "maintenance (503) until it ends", "runner.overrun", level=logging.WARNING,
            max_hold_seconds=self.opts.max_hold,
        )  # fmt: skip

    def _release(self, *, success: bool) -> HandoffWait | None:
        self.lease.stop()
        return release(
            self.client, self.keys, self.lease, self.opts, self.result, self.progress,
            success=success,
        )  # fmt: skip

    def _lease_event(self, kind: LeaseEvent, detail: str) -> None:
        self.result.notes.append(lease_note(self.progress, "runner", kind, detail))
