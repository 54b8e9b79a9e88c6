"""What a gate process tells the runner, and when: its heartbeat report and drain ack.

The watcher writes a report every ``poll_interval``. After a state change the runner is
waiting on the processes, so a report is also written as soon as the process has
settled: under a gated mode once the requests it would stop have left the app (the
report then carries ``drained: "<mode>:<generation>"``, the acknowledgement the runner's
drain waits for); under ``open`` once its held requests are released.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import redis

from gatekeeper._parsers import default_hostname
from gatekeeper.core.modes import Mode
from gatekeeper.state.counters import Counters
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import new_process_id, report_ttl, withdraw_report, write_report
from gatekeeper.state.snapshot import Snapshot

__all__ = ["ProcessReporter"]

_PATIENCE = 0.5
"""Seconds to wait for held requests to leave after an open before reporting anyway."""


class ProcessReporter:
    """Counts, identity and acknowledgement state of one process (reset after a fork)."""

    def __init__(self, host: str | None = None, release: str = "") -> None:
        self.counters = Counters()
        self.host = host or default_hostname()
        self.release = release
        self.proc_id = new_process_id(host)
        self.started_at = time.time()
        self._acked = ""
        self._changed_at: float | None = None

    def state_changed(self) -> None:
        self._changed_at = time.monotonic()

    def wanted(self, snapshot: Snapshot | None) -> bool:
        """Whether someone waits on a report from this process right now."""
        return self._changed_at is not None or self._drain_pending(snapshot)

    def ready(self, snapshot: Snapshot | None) -> bool:
        """Whether the process has settled enough for that report to be worth writing."""
        if snapshot is None:
            return False
        if snapshot.mode is not Mode.OPEN:
            return self.counters.drained(snapshot.mode)
        late = self._changed_at is not None and time.monotonic() - self._changed_at > _PATIENCE
        return self.counters.held == 0 or late

    def build(self, snapshot: Snapshot | None) -> dict[str, Any]:
        report: dict[str, Any] = {
            "pid": os.getpid(),
            "host": self.host,
            "release": self.release,
            "started": round(self.started_at, 3),
            "mode": snapshot.mode.value if snapshot else "",
            # What a reload waits for: this process now closes its clients' connections.
            "keepalive": "off" if snapshot is not None and snapshot.closing else "on",
            **self.counters.as_dict(),
        }
        ack = _ack_key(snapshot)
        if ack and snapshot is not None and self.counters.drained(snapshot.mode):
            report["drained"] = ack
        return report

    def written(self, report: dict[str, Any]) -> None:
        self._changed_at = None
        if "drained" in report:
            self._acked = str(report["drained"])

    def send(
        self, client: redis.Redis, keys: Keys, snapshot: Snapshot | None, poll_interval: float
    ) -> None:
        """Write the heartbeat report (it expires after three missed heartbeats)."""
        report = self.build(snapshot)
        pipe = client.pipeline(transaction=False)
        write_report(pipe, keys, self.proc_id, report, report_ttl(poll_interval))
        pipe.execute()
        self.written(report)

    def withdraw(
        self, connect: Callable[[], redis.Redis], keys: Keys, snapshot: Snapshot | None
    ) -> None:
        """Leave the live set at shutdown, best effort: the report expires anyway."""
        try:
            client = connect()
            pipe = client.pipeline(transaction=False)
            withdraw_report(pipe, keys, self.proc_id, self.build(snapshot))
            pipe.execute()
            client.close()
        except Exception:  # noqa: S110 - best effort: the report expires anyway
            pass

    def _drain_pending(self, snapshot: Snapshot | None) -> bool:
        ack = _ack_key(snapshot)
        return bool(ack) and ack != self._acked


def _ack_key(snapshot: Snapshot | None) -> str:
    if snapshot is None or snapshot.mode is Mode.OPEN:
        return ""
    return f"{snapshot.mode.value}:{snapshot.generation}"
