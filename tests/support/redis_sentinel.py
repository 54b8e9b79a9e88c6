"""A real Redis Sentinel set on free loopback ports, for tests of Sentinel failover.

::

    with SentinelSet(flavour="valkey") as ha:     # 1 master, 2 replicas, 3 sentinels
        url = ha.url()                            # redis+sentinel://...:p1,...:p3/mymaster/0
        old, killed_at = ha.kill_master()
        new = ha.wait_failover(old)               # time.monotonic() - killed_at: the outage
        ha.restart_node(old)                      # back as a replica of ``new``

The sentinels (quorum 2) call a master down after ``down_after_ms``; a failover attempt that
fails (a split vote, say) is tried again only ``2 * failover_timeout_ms`` later, Sentinel's
own rule, hence a small default. ``start()`` returns once both replicas are in sync and
every sentinel knows both replicas and the two other sentinels, so a failover can begin at
once. A kill is failed over in about 2.3 s (Redis 7.0 and Valkey 8.0 alike).

``SentinelSet(tls=True)``: every node, sentinels included, speaks TLS only (a CA of its
own in the topology's directory) and ``url()`` is ``rediss+sentinel://...?ssl_ca_certs=``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import redis

from tests.support._ha_common import (
    LOOPBACK,
    Address,
    Flavour,
    Node,
    Topology,
    call,
    free_ports,
    quote_conf,
    role,
    shown,
    wait,
)

__all__ = ["SentinelSet"]

REPLICAS = 2
SENTINELS = 3
QUORUM = 2


def _pairs(reply: Any) -> dict[str, str]:
    # A map under RESP3 (redis-py's default since 8.0), a flat name, value list under RESP2.
    items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    return {str(name): str(value) for name, value in items}


class SentinelSet(Topology):
    """One master, two replicas and three sentinels watching them as ``service``."""

    def __init__(
        self,
        *,
        flavour: Flavour = "redis",
        service: str = "mymaster",
        password: str | None = None,
        sentinel_password: str | None = None,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        tls: bool = False,
    ) -> None:
        super().__init__(flavour, password, tls)
        self.service = service
        self.sentinel_password = sentinel_password
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.data: list[Node] = []
        self.sentinels: list[Node] = []

    @property
    def sentinel_ports(self) -> list[int]:
        return [node.port for node in self.sentinels]

    def url(self, scheme: str | None = None, db: int = 0) -> str:
        """``redis+sentinel://`` (``rediss+sentinel://`` with TLS, whose query then names
        the CA: also given a TLS ``scheme``, never a plain one)."""
        scheme = scheme or ("rediss+sentinel" if self.tls else "redis+sentinel")
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        hosts = ",".join(f"{LOOPBACK}:{port}" for port in self.sentinel_ports)
        options = {"sentinel_password": self.sentinel_password} if self.sentinel_password else {}
        if self.ca is not None and scheme.startswith("rediss"):
            options["ssl_ca_certs"] = str(self.ca)
        query = f"?{urlencode(options)}" if options else ""
        return f"{scheme}://{auth}{hosts}/{quote(self.service, safe='')}/{db}{query}"

    def _start(self) -> None:
        ports = free_ports(1 + REPLICAS + SENTINELS)
        master_port, sentinel_ports = ports[0], ports[1 + REPLICAS :]
        for port in ports[: 1 + REPLICAS]:
            home = self._home(f"data-{port}")
            follow = () if port == master_port else ("--replicaof", LOOPBACK, str(master_port))
            self.data.append(self._node(port, home, self._data_argv(port, home, *follow)))
        self.nodes.extend(self.data)
        for node in self.data:
            node.start()
        # Sentinels find the replicas in the master's INFO: only once they are attached.
        links = partial(self._links, self.data[1:])
        wait(lambda: set(links()) == {"up"}, 15.0, "replicas in sync", links, self.data)
        for port in sentinel_ports:
            home = self._home(f"sentinel-{port}")
            home.mkdir()  # the conf goes in before the node exists
            conf = home / "sentinel.conf"  # Sentinel rewrites it: one writable file each
            conf.write_text(self._sentinel_conf(port, home, master_port))
            self.sentinels.append(self._node(port, home, [self.server, str(conf), "--sentinel"]))
        self.nodes.extend(self.sentinels)
        for node in self.sentinels:
            node.start()
        what = "sentinels that know each other"
        wait(self._sentinels_ready, 20.0, what, self._sentinels_seen, self.sentinels)

    def _sentinel_conf(self, port: int, home: Path, master_port: int) -> str:
        name = self.service
        listen = [f"port {port}"]
        if self.tls:
            listen = ["port 0", f"tls-port {port}"]
            listen += [f"{key} {quote_conf(value)}" for key, value in self._tls_settings()]
        lines = [
            *listen, f"bind {LOOPBACK}", "protected-mode no", f"dir {quote_conf(str(home))}",
            "sentinel resolve-hostnames no",
            f"sentinel monitor {name} {LOOPBACK} {master_port} {QUORUM}",
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
            f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
        ]  # fmt: skip
        if self.password:
            lines.append(f"sentinel auth-pass {name} {quote_conf(self.password)}")
        if self.sentinel_password:  # sentinels also use it to talk to one another
            lines.append(f"requirepass {quote_conf(self.sentinel_password)}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        super().stop()
        self.data, self.sentinels = [], []

    def _ask(self, sentinel: Node, *args: str) -> Any:
        return call(sentinel.port, self.sentinel_password, "SENTINEL", *args, ca=self.ca)

    def _named_by(self, sentinel: Node) -> Address:
        host, port = self._ask(sentinel, "GET-MASTER-ADDR-BY-NAME", self.service)
        return (str(host), int(port))

    def _master_seen_by(self, sentinel: Node) -> dict[str, str]:
        master = _pairs(self._ask(sentinel, "MASTER", self.service))
        return {key: master[key] for key in ("flags", "num-slaves", "num-other-sentinels")}

    def _replicas_known(self, sentinel: Node) -> dict[Address, str]:
        """Each replica this sentinel knows, with its flags (``slave`` alone: healthy)."""
        entries = (_pairs(flat) for flat in self._ask(sentinel, "REPLICAS", self.service))
        return {(entry["ip"], int(entry["port"])): entry["flags"] for entry in entries}

    def _flags_of(self, sentinel: Node, replica: Address) -> str | None:
        return self._replicas_known(sentinel).get(replica)

    def _sentinels_ready(self) -> bool:
        ready = {"flags": "master", "num-slaves": str(REPLICAS), "num-other-sentinels": "2"}
        return all(
            self._master_seen_by(sentinel) == ready
            and set(self._replicas_known(sentinel).values()) == {"slave"}
            for sentinel in self.sentinels
        )

    def _sentinels_seen(self) -> list[Any]:
        return [shown(partial(self._master_seen_by, sentinel)) for sentinel in self.sentinels]

    def master_address(self) -> Address:
        """The master as the first live sentinel that answers names it."""
        for sentinel in self._live(self.sentinels):
            found = shown(partial(self._named_by, sentinel))
            if isinstance(found, tuple):
                return found
        raise RuntimeError(f"no sentinel of {self.service!r} answered")

    def master_client(self) -> redis.Redis:
        """A plain client to the current master (the caller closes it)."""
        return self.client_for(self.master_address())

    def kill_master(self) -> tuple[Address, float]:
        """SIGKILL the current master: its address and the ``time.monotonic()`` of the kill."""
        address = self.master_address()
        return address, self._node_at(address).kill()

    def failover(self) -> Address:
        """Ask a sentinel for a graceful failover (``SENTINEL FAILOVER``): the old master.

        Sentinel demotes the old master only some 10 s after the new one took over: until
        then both answer ``ROLE`` as masters, and a client still connected to the old one
        writes where no replica copies it.
        """
        old = self.master_address()
        self._ask(self._live(self.sentinels)[0], "FAILOVER", self.service)
        return old

    def wait_failover(self, old: Address, timeout: float = 30.0) -> Address:
        """Wait until every live sentinel names one master other than ``old`` and that node
        answers ``ROLE`` as a master; return it."""
        views: list[Address] = []

        def moved() -> bool:
            views[:] = sorted({self._named_by(node) for node in self._live(self.sentinels)})
            if len(views) != 1 or views[0] == tuple(old):
                return False
            return role(views[0][1], self.password, self.ca) == "master"

        live = self._live(self.sentinels)
        wait(moved, timeout, f"a master other than {old}", lambda: views, live)
        return views[0]

    def restart_node(self, address: Address, timeout: float = 30.0) -> None:
        """Start a killed data node again on its port as a replica of the current master,
        as an old master rejoins; return once it is in sync and every live sentinel sees it
        as a healthy replica.

        The default allows a full resync and then a sentinel's INFO of the master, which
        comes every 10 s: 15 s ran out once with the whole suite loading both cores."""
        node = self._node_at(address)
        if node not in self.data or node.process is not None:
            raise ValueError(f"{address} is not a stopped data node")
        host, port = self.master_address()
        if port == node.port:
            raise RuntimeError(f"the sentinels still name {address} the master: wait_failover()")
        node.argv = self._data_argv(node.port, node.home, "--replicaof", host, str(port))
        node.start()
        live = self._live(self.sentinels)

        def seen() -> list[Any]:
            flags = [shown(partial(self._flags_of, sentinel, node.address)) for sentinel in live]
            return [*flags, *self._links([node])]

        healthy = ["slave"] * len(live) + ["up"]
        what = f"{address} back as a replica"
        wait(lambda: seen() == healthy, timeout, what, seen, [node, *live])
