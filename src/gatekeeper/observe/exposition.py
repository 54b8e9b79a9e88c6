"""Serving the metrics: a scrape's body, the app's own ``metrics_path`` route, and the
standalone exporter (``gatekeeper metrics-exporter``).

Under ``PROMETHEUS_MULTIPROC_DIR`` a scrape adds up every process's files, so whichever
worker answers, the figures are the host's. Without it, the scrape is this process's
default registry, the app's own ``prometheus_client`` metrics included.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["multiprocess_dir", "scrape", "scrape_registry", "serve_exporter"]


def multiprocess_dir() -> str | None:
    """The multiprocess directory, if ``prometheus_client`` runs in that mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def scrape_registry() -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode, else this
    process's default registry."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def scrape(accept: str | None = None) -> tuple[bytes, str]:
    """The body and content type of a scrape (OpenMetrics if ``accept`` asks for it)."""
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    return encoder(scrape_registry()), content_type


def serve_exporter(
    host: str, port: int, stop: threading.Event, on_bound: Callable[[str, int], None]
) -> None:
    """Serve the multiprocess directory's metrics on ``host:port`` until ``stop`` is set;
    ``on_bound`` is told the address bound (``port`` 0 picks a free one).

    Raises ``ValueError`` when no multiprocess directory is set: the exporter would
    export only its own process, which has no gate in it."""
    from prometheus_client import start_http_server

    path = multiprocess_dir()
    if path is None or not os.path.isdir(path):
        raise ValueError(
            "PROMETHEUS_MULTIPROC_DIR must name the directory the app's workers write to"
        )
    server, thread = start_http_server(port, addr=host, registry=scrape_registry())
    try:
        bound = server.server_address
        on_bound(str(bound[0]), int(bound[1]))
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
