"""The run's final write: open, or the failure policy; retried through a Redis blip.

The write goes through the lease, so an operator's state found in its place is left
alone. Retries back off to 1 s, twenty in all (about 15 s): long enough for a failover,
and when even that fails the state still expires with its TTL, so the site never stays
held by a runner that gave up.
"""

from __future__ import annotations

import logging
import time

import redis

from gatekeeper.core.modes import Mode
from gatekeeper.runner._restart import HandoffWait
from gatekeeper.runner.lease import HoldLease
from gatekeeper.runner.options import OnFailure, RunOptions, RunResult
from gatekeeper.runner.progress import Progress
from gatekeeper.state.keys import Keys
from gatekeeper.state.store import info_fields

__all__ = ["release"]


def release(
    client: redis.Redis,
    keys: Keys,
    lease: HoldLease,
    opts: RunOptions,
    result: RunResult,
    progress: Progress,
    *,
    success: bool,
) -> HandoffWait | None:
    """The final write (the lease already stopped); with ``--handoff`` after success, the
    wait that comes next. Sets ``result.final_state`` and ``released_at``."""
    policy: OnFailure = "open" if success else opts.on_failure
    handoff = None
    if success and opts.handoff and opts.await_release:
        handoff = HandoffWait(client, keys, opts.await_release, opts.ttl)
    for attempt in range(20):
        try:
            written = _final_write(lease, opts, policy, handoff)
        except redis.RedisError as exc:
            if attempt == 0:
                progress.note(
                    f"release failed ({exc.__class__.__name__}); retrying",
                    "runner.release_retry", error=exc.__class__.__name__,
                )  # fmt: skip
            time.sleep(min(0.05 * 2**attempt, 1.0))
            continue
        if not written:
            found = result.final_state = lease.overridden or "unknown"
            progress.note(
                f"an operator set the state to {found!r}; leaving it",
                "runner.left_operator_state", state=found,
            )  # fmt: skip
            return None
        result.final_state = "open" if policy == "open" else "maintenance"
        result.released_at = round(time.time(), 4)
        return handoff
    result.final_state = "unknown"
    progress.note(
        f"could not release; the state expires within {opts.ttl:g}s anyway",
        "runner.release_failed", level=logging.ERROR, ttl_seconds=opts.ttl,
    )  # fmt: skip
    return None


def _final_write(
    lease: HoldLease, opts: RunOptions, policy: OnFailure, handoff: HandoffWait | None
) -> bool:
    if policy == "open":
        named = (handoff.release, handoff.ttl) if handoff is not None else None
        return lease.write(Mode.OPEN, {}, ttl=None, handoff=named)
    fields = info_fields(
        message=opts.message or "The upgrade failed; we are on it.",
        retry_after=opts.retry_after or 60,
        owner=lease.token,
    )
    return lease.write(Mode.MAINTENANCE, fields, ttl=None)
