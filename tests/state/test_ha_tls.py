"""A process's watcher and the CLI against Sentinel and Cluster topologies that speak TLS
only (``tls=True``: a CA of their own): ``rediss+sentinel://`` and ``rediss+cluster://``
URLs that name it with ``ssl_ca_certs``; the same URL without TLS fails in one line, soon."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gatekeeper import build_options
from gatekeeper.cli import main
from gatekeeper.core.modes import Mode
from gatekeeper.state.keys import Keys
from gatekeeper.state.watcher import StateWatcher
from tests.support._ha_common import Address
from tests.support.ha import Kind
from tests.support.helpers import wait_for
from tests.support.redis_cluster import ClusterSet
from tests.support.redis_sentinel import SentinelSet

pytestmark = pytest.mark.slow

KINDS = ["sentinel", "cluster"]
GIVE_UP_WITHIN = 20.0  # seconds for the CLI to report that no node speaks its protocol

# Before the fix a sentinel URL that no sentinel answered took some 250 s to give up on:
# each sentinel connection retried on its own inside every retry of the master's.


@contextmanager
def tls_topology(kind: Kind) -> Iterator[SentinelSet | ClusterSet]:
    topology = SentinelSet(tls=True) if kind == "sentinel" else ClusterSet(tls=True)
    with topology:
        yield topology


def primary(topology: SentinelSet | ClusterSet, prefix: str, url: str) -> Address:
    """The node that holds gatekeeper's keys, as the topology itself sees it."""
    if isinstance(topology, SentinelSet):
        return topology.master_address()
    return topology.owner_of(Keys.for_url(prefix, url).state)


@pytest.mark.parametrize("kind", KINDS)
def test_tls_url_operator_commands_reach_the_watcher(
    kind: Kind, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with tls_topology(kind) as topology:
        url = topology.url()
        assert url.startswith(f"rediss+{kind}://")
        assert "ssl_ca_certs=" in url
        options = build_options({"redis_url": url, "prefix": prefix, "poll_interval": 1.0})
        watcher = StateWatcher(options)
        try:
            assert watcher.wait_ready().source == "redis"
            for mode in (Mode.HOLD, Mode.MAINTENANCE, Mode.OPEN):
                assert main(["--redis-url", url, "--prefix", prefix, mode.value]) == 0

                def seen(mode: Mode = mode) -> bool:
                    return watcher.snapshot is not None and watcher.snapshot.mode is mode

                wait_for(seen, 3, what=f"the watcher to see {mode.value} over TLS")
            capsys.readouterr()
            assert main(["--redis-url", url, "--prefix", prefix, "status", "--json"]) == 0
            status = json.loads(capsys.readouterr().out)
            host, port = primary(topology, prefix, url)
            assert status["node"].startswith(f"{host}:{port} "), status["node"]
            assert status["state"] == "open"
        finally:
            watcher.close()


@pytest.mark.parametrize("kind", KINDS)
def test_plain_url_to_tls_topology_fails_soon_in_one_line(
    kind: Kind, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with tls_topology(kind) as topology:
        plain = topology.url(f"redis+{kind}")
        assert "ssl_ca_certs" not in plain
        started = time.monotonic()
        assert main(["--redis-url", plain, "--prefix", prefix, "status"]) != 0
        took = time.monotonic() - started
        captured = capsys.readouterr()
        assert len(captured.err.splitlines()) == 1, captured.err
        assert captured.err.startswith("gatekeeper: error: "), captured.err
        assert "Traceback" not in captured.out + captured.err
        assert took < GIVE_UP_WITHIN, f"{kind}: the CLI gave up only after {took:.1f}s"
