"""A process that runs only a gate's watcher, as an app process would: it reports in
(``GATEKEEPER_*`` from the environment) until SIGTERM, then exits normally, so its report
is withdrawn on the way out. ``python -m tests.support.apps.gate_process``."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from gatekeeper import Gate

stop = threading.Event()


def _stop(signum: int, frame: FrameType | None) -> None:
    stop.set()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    Gate().watcher.wait_ready()
    print("ready", flush=True)
    stop.wait(120)
