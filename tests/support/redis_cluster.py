"""A real Redis Cluster on free loopback ports, for tests of cluster failover.

::

    with ClusterSet(flavour="valkey") as cluster:   # 3 masters, one replica each
        url = cluster.url()                         # redis+cluster://...:p1,...:p2,...:p3
        owner = cluster.owner_of("{gatekeeper}:state")
        killed_at = cluster.kill_node(owner)
        new = cluster.wait_owner_changed("{gatekeeper}:state", owner)
        cluster.restart_node(owner)                 # rejoins as ``new``'s replica

Six nodes (``--cluster-node-timeout`` ``node_timeout_ms``, replicas always allowed to fail
over) joined by ``<cli> --cluster create ... --cluster-replicas 1``. Each node's cluster bus
port is a free port of its own (``--cluster-port``): the default, port + 10000, may be taken
or past 65535 for an ephemeral port. ``start()`` returns once every node says
``cluster_state:ok`` with all 16384 slots assigned and every replica is in sync.

``ClusterSet(tls=True)``: clients, replication and the cluster bus all speak TLS only (a
CA of its own in the topology's directory); ``url()`` is ``rediss+cluster://...?ssl_ca_certs=``.
"""

from __future__ import annotations

import subprocess
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

from tests.support._ha_common import (
    LOOPBACK,
    Address,
    Flavour,
    Node,
    Topology,
    call,
    fields,
    free_ports,
    role,
    shown,
    wait,
)

__all__ = ["ClusterSet"]

NODES = 6
SLOTS = 16384


class ClusterSet(Topology):
    """Six cluster nodes: three masters sharing the slots, each with one replica."""

    def __init__(
        self,
        *,
        flavour: Flavour = "redis",
        password: str | None = None,
        node_timeout_ms: int = 1000,
        tls: bool = False,
    ) -> None:
        super().__init__(flavour, password, tls)
        self.node_timeout_ms = node_timeout_ms

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def url(self, scheme: str | None = None) -> str:
        """``redis+cluster://`` (``rediss+cluster://`` with TLS, whose query then names the
        CA: also given a TLS ``scheme``, never a plain one)."""
        scheme = scheme or ("rediss+cluster" if self.tls else "redis+cluster")
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        hosts = ",".join(f"{LOOPBACK}:{port}" for port in self.ports[:3])
        tls = self.ca is not None and scheme.startswith("rediss")
        query = f"?{urlencode({'ssl_ca_certs': str(self.ca)})}" if tls else ""
        return f"{scheme}://{auth}{hosts}{query}"

    def _start(self) -> None:
        ports = free_ports(2 * NODES)
        for port, bus in zip(ports[:NODES], ports[NODES:], strict=True):
            home = self._home(f"node-{port}")
            argv = self._data_argv(
                port, home, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms), "--cluster-port", str(bus),
                "--cluster-replica-validity-factor", "0",
                *(["--tls-cluster", "yes"] if self.tls else []),
            )  # fmt: skip
            self.nodes.append(self._node(port, home, argv))
        for node in self.nodes:
            node.start()
        auth = ["-a", self.password, "--no-auth-warning"] if self.password else []
        tls = [] if self.ca is None else ["--tls", "--cacert", str(self.ca)]
        create = [
            self.cli, "--cluster", "create", *(f"{LOOPBACK}:{port}" for port in self.ports),
            "--cluster-replicas", "1", "--cluster-yes", *auth, *tls,
        ]  # fmt: skip
        done = subprocess.run(
            create, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.cli} --cluster create failed:\n{done.stdout}{done.stderr}")
        wait(self._formed, 30.0, "every node ok with its replica", self._seen, self.nodes)

    def _info(self, node: Node) -> dict[str, str]:
        return fields(str(call(node.port, self.password, "CLUSTER", "INFO", ca=self.ca)))

    def _ok(self, node: Node) -> bool:
        info = self._info(node)
        return (info.get("cluster_state"), info.get("cluster_slots_assigned")) == ("ok", str(SLOTS))

    def _formed(self) -> bool:
        infos = [self._replication(node) for node in self.nodes]
        masters = [info for info in infos if info["role"] == "master"]
        replicas = [info for info in infos if info["role"] == "slave"]
        return (
            len(masters) == len(replicas) == NODES // 2
            and all(int(info["connected_slaves"]) == 1 for info in masters)
            and all(info.get("master_link_status") == "up" for info in replicas)
            and all(map(self._ok, self.nodes))
        )

    def _summary(self, node: Node) -> tuple[Any, ...]:
        info, replication = self._info(node), self._replication(node)
        return (
            info.get("cluster_state"),
            replication["role"],
            replication.get("master_link_status"),
        )

    def _seen(self) -> dict[int, Any]:
        return {node.port: shown(partial(self._summary, node)) for node in self._live(self.nodes)}

    def _owner_seen_by(self, node: Node, slot: int) -> Address:
        for entry in call(node.port, self.password, "CLUSTER", "SLOTS", ca=self.ca):
            if int(entry[0]) <= slot <= int(entry[1]):
                return (str(entry[2][0]), int(entry[2][1]))
        raise RuntimeError(f"{node.name} knows no node serving slot {slot}")

    def _slot(self, key: str) -> int:
        port = self._live(self.nodes)[0].port
        return int(call(port, self.password, "CLUSTER", "KEYSLOT", key, ca=self.ca))

    def owner_of(self, key: str) -> Address:
        """The master serving ``key``'s slot, as the first live node sees it."""
        return self._owner_seen_by(self._live(self.nodes)[0], self._slot(key))

    def kill_node(self, address: Address) -> float:
        """SIGKILL one node; the ``time.monotonic()`` of the kill."""
        return self._node_at(address).kill()

    def wait_owner_changed(self, key: str, old: Address, timeout: float = 30.0) -> Address:
        """Wait until every live node names one master other than ``old`` for ``key``'s
        slot, that node answers ``ROLE`` as a master and every live node says
        ``cluster_state:ok``; return the new master."""
        slot = self._slot(key)
        views: list[Address] = []

        def moved() -> bool:
            live = self._live(self.nodes)
            views[:] = sorted({self._owner_seen_by(node, slot) for node in live})
            if len(views) != 1 or views[0] == tuple(old):
                return False
            master = role(views[0][1], self.password, self.ca) == "master"
            return master and all(map(self._ok, live))

        what = f"a master other than {old} for slot {slot}"
        wait(moved, timeout, what, lambda: (views, self._seen()), self._live(self.nodes))
        return views[0]

    def restart_node(self, address: Address, timeout: float = 15.0) -> None:
        """Start a killed node again on its port with its old ``nodes.conf``; return once
        it is a replica in sync and every live node says ``cluster_state:ok``."""
        node = self._node_at(address)
        if node.process is not None:
            raise ValueError(f"{address} is running")
        node.start()

        def rejoined() -> bool:
            info = self._replication(node)
            in_sync = info["role"] == "slave" and info.get("master_link_status") == "up"
            return in_sync and all(map(self._ok, self._live(self.nodes)))

        wait(rejoined, timeout, f"{address} back as a replica", self._seen, [node])
