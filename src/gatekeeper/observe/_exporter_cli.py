"""``gatekeeper metrics-exporter``: the host's gate metrics on a port of their own.

For apps that cannot serve ``metrics_path`` (a server that owns every path, a scrape
that must not share the app's port): run it beside the app servers of one host with the
same ``PROMETHEUS_MULTIPROC_DIR``; it adds up their files at each scrape.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

__all__ = ["add_exporter_parser", "run_exporter"]

DEFAULT_LISTEN = "127.0.0.1:9464"


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text[:60]!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def add_exporter_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "metrics-exporter",
        parents=[common],
        help="serve this host's gate metrics (PROMETHEUS_MULTIPROC_DIR) on a port",
    )
    sub.add_argument(
        "--listen",
        type=_listen,
        default=_listen(DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"address to serve /metrics on (default {DEFAULT_LISTEN}; 0.0.0.0:9464 for all)",
    )


def run_exporter(args: argparse.Namespace) -> int:
    from gatekeeper.observe.exposition import serve_exporter

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return _fail("set PROMETHEUS_MULTIPROC_DIR to the directory the app's workers write to")
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return _fail("needs prometheus_client: pip install 'gatekeeper-deploy[prometheus]'")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)

    def bound(host: str, port: int) -> None:
        print(f"gatekeeper: serving metrics on http://{host}:{port}/metrics", file=sys.stderr)
        sys.stderr.flush()

    host, port = args.listen
    try:
        serve_exporter(host, port, stop, bound)
    except (ValueError, OSError) as exc:
        return _fail(str(exc)[:200])
    return 0


def _fail(message: str) -> int:
    print(f"gatekeeper: error: {message}", file=sys.stderr)
    return 2
