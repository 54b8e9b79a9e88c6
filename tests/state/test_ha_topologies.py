"""The real Sentinel and Cluster topologies of ``tests/support`` fail over and recover.

One run of each per flavour: start, write, SIGKILL the node that holds the write, wait
for the replica that takes over, check the write survived, bring the dead node back as a
replica, then check that leaving the ``with`` left no process and no directory behind.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gatekeeper._redis_urls import parse_target
from tests.support._ha_common import Flavour, Topology
from tests.support.redis_cluster import ClusterSet
from tests.support.redis_sentinel import SentinelSet

pytestmark = pytest.mark.slow

KEY = "{gatekeeper}:state"
FAILOVER_TIMEOUT = 30.0  # one failed election (split votes) retries after 2 x 3 s


def _running(topology: Topology) -> tuple[list[int], Path]:
    pids = [node.process.pid for node in topology.nodes if node.process is not None]
    return pids, topology.nodes[0].home.parent


def _assert_gone(pids: list[int], home: Path) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not home.exists()


@pytest.mark.parametrize(
    ("flavour", "password"), [("redis", None), ("valkey", "s3 cret")], ids=["redis", "valkey"]
)
def test_sentinel_master_killed_replica_takes_over_with_the_data(
    flavour: Flavour, password: str | None
) -> None:
    with SentinelSet(flavour=flavour, password=password, sentinel_password=password) as ha:
        target = parse_target(ha.url())
        assert target.nodes == tuple(("127.0.0.1", port) for port in ha.sentinel_ports)
        assert target.service == "mymaster"
        with ha.master_client() as master:
            master.set(KEY, "open")
            assert master.execute_command("WAIT", 2, 5000) == 2
        replica = next(node.address for node in ha.data if node.address != ha.master_address())
        with ha.client_for(replica) as client:
            assert client.get(KEY) == "open"

        old, killed_at = ha.kill_master()
        new = ha.wait_failover(old, timeout=FAILOVER_TIMEOUT)
        took = time.monotonic() - killed_at
        assert new != old
        assert took < FAILOVER_TIMEOUT, f"{flavour}: failover took {took:.2f}s"
        with ha.client_for(new) as client:
            assert client.get(KEY) == "open", f"{flavour}: lost the write ({took:.2f}s)"

        ha.restart_node(old)
        with ha.client_for(old) as client:
            assert client.execute_command("ROLE")[0] == "slave"
            assert client.get(KEY) == "open"
        pids, home = _running(ha)
    _assert_gone(pids, home)


@pytest.mark.parametrize("flavour", ["redis", "valkey"])
def test_cluster_owner_killed_replica_takes_over_the_slot(flavour: Flavour) -> None:
    with ClusterSet(flavour=flavour, password="s3cret") as cluster:
        assert parse_target(cluster.url()).nodes == tuple(
            ("127.0.0.1", port) for port in cluster.ports[:3]
        )
        owner = cluster.owner_of(KEY)
        with cluster.client_for(owner) as client:
            client.set(KEY, "open")
            # Only a write the replica acknowledged may be expected to survive the kill.
            assert client.execute_command("WAIT", 1, 5000) == 1

        killed_at = cluster.kill_node(owner)
        new = cluster.wait_owner_changed(KEY, owner, timeout=FAILOVER_TIMEOUT)
        took = time.monotonic() - killed_at
        assert new != owner
        assert took < FAILOVER_TIMEOUT, f"{flavour}: failover took {took:.2f}s"
        assert cluster.owner_of(KEY) == new
        with cluster.client_for(new) as client:
            assert client.get(KEY) == "open", f"{flavour}: lost the write ({took:.2f}s)"

        cluster.restart_node(owner)
        with cluster.client_for(owner) as client:
            assert client.execute_command("ROLE")[0] == "slave"
            client.execute_command("READONLY")  # a cluster replica serves reads only after it
            assert client.get(KEY) == "open"
        pids, home = _running(cluster)
    _assert_gone(pids, home)
