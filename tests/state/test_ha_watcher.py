"""A process's watcher, the runner's lease and the CLI against real Sentinel and Cluster
topologies (Redis and Valkey): every URL form, graceful failovers, READONLY, passwords."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterator

import pytest

from gatekeeper import build_options
from gatekeeper.cli import main
from gatekeeper.core.modes import Mode
from gatekeeper.runner.lease import HoldLease
from gatekeeper.state.keys import Keys
from gatekeeper.state.store import info_fields
from gatekeeper.state.watcher import StateWatcher
from tests.support._ha_common import Flavour, call
from tests.support.ha import HA, Kind, ha_topology, sentinel_ha
from tests.support.helpers import ACL_RULES, wait_for
from tests.support.redis_cluster import ClusterSet
from tests.support.redis_sentinel import SentinelSet

pytestmark = pytest.mark.slow


@pytest.fixture
def watchers() -> Iterator[list[StateWatcher]]:
    made: list[StateWatcher] = []
    yield made
    for watcher in made:
        watcher.close()


def watch(ha: HA, prefix: str, made: list[StateWatcher], poll: float = 1.0) -> StateWatcher:
    options = build_options({"redis_url": ha.url, "prefix": prefix, "poll_interval": poll})
    watcher = StateWatcher(options)
    made.append(watcher)
    assert watcher.wait_ready().source == "redis"
    return watcher


def cli(ha: HA, prefix: str, *args: str) -> int:
    return main(["--redis-url", ha.url, "--prefix", prefix, *args])


@pytest.mark.parametrize("flavour", ["redis", "valkey"])
@pytest.mark.parametrize("kind", ["sentinel", "cluster"])
def test_operator_commands_through_ha_url_reach_the_watcher(
    kind: Kind,
    flavour: Flavour,
    prefix: str,
    watchers: list[StateWatcher],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ha_topology(kind, prefix, flavour) as ha:
        watcher = watch(ha, prefix, watchers)
        for mode in (Mode.HOLD, Mode.READONLY, Mode.MAINTENANCE, Mode.OPEN):
            assert cli(ha, prefix, mode.value) == 0
            wait_for(lambda m=mode: watcher.snapshot and watcher.snapshot.mode is m, 3)  # type: ignore[misc]
        capsys.readouterr()
        assert cli(ha, prefix, "status", "--json") == 0
        status = json.loads(capsys.readouterr().out)
        host, port = ha.primary()
        assert status["node"].startswith(f"{host}:{port} ")
        assert status["state"] == "open"
        assert len(status["processes"]) == 1
        primary = ha.primary_client()
        try:  # the keys are where the status says, under the names the README gives
            assert primary.get(ha.keys.state) == "open"
            if kind == "cluster":
                assert ha.keys.state == "{" + prefix + "}:state"
        finally:
            primary.close()


def test_graceful_sentinel_failover_watcher_follows_the_new_master(
    prefix: str, watchers: list[StateWatcher]
) -> None:
    # The old master answers as a master for ~10 s after SENTINEL FAILOVER: a watcher that
    # stayed connected to it would hear nothing of the new one for that long.
    with sentinel_ha(prefix) as (ha, sentinels):
        watcher = watch(ha, prefix, watchers, poll=0.5)
        old = sentinels.failover()
        new = sentinels.wait_failover(old)
        moved = time.monotonic()
        assert cli(ha, prefix, "maintenance") == 0  # a fresh connection: the new master
        wait_for(lambda: watcher.snapshot and watcher.snapshot.mode is Mode.MAINTENANCE, 4)
        took = time.monotonic() - moved
        print(f"\nsentinel failover {old} -> {new}: new state in the watcher after {took:.2f}s")
        assert call(old[1], None, "ROLE")[0] == "master"  # still: the case under test


def test_graceful_sentinel_failover_lease_renews_on_the_new_master(prefix: str) -> None:
    with sentinel_ha(prefix) as (ha, sentinels):
        client = ha.client()
        lease = HoldLease(client, ha.keys, token="t", ttl=3.0, on_event=lambda *_: None)
        lease.acquire()
        lease.write(Mode.HOLD, info_fields(), ttl=3.0)
        lease.start()
        try:
            old = sentinels.failover()
            new = sentinels.wait_failover(old)
            on_new = sentinels.client_for(new)
            ttls: list[int] = []
            deadline = time.monotonic() + 5  # beyond the TTL: unrenewed, it would be gone
            while time.monotonic() < deadline:
                ttls.append(int(on_new.pttl(ha.keys.state)))
                time.sleep(0.05)
            on_new.close()
        finally:
            lease.stop()
            lease.release()
            client.close()
        assert -2 not in ttls, "the hold lapsed on the new master"
        assert any(later > earlier for earlier, later in itertools.pairwise(ttls))


def test_old_master_demoted_readonly_reconnects_to_the_new_one(prefix: str) -> None:
    with sentinel_ha(prefix) as (ha, sentinels):
        client = ha.client()
        try:
            client.set(ha.keys.state, "hold")  # connected to the first master
            old = sentinels.failover()
            new = sentinels.wait_failover(old)
            call(old[1], None, "REPLICAOF", *map(str, new))  # what Sentinel does later
            wait_for(lambda: call(old[1], None, "ROLE")[0] == "slave", 5)
            client.set(ha.keys.state, "maintenance")  # READONLY there: retried on the new
        finally:
            client.close()
        on_new = sentinels.client_for(new)
        assert on_new.get(ha.keys.state) == "maintenance"
        on_new.close()


def test_cluster_manual_failover_watcher_and_cli_follow_moved(
    prefix: str, watchers: list[StateWatcher]
) -> None:
    with ha_topology("cluster", prefix) as ha:
        assert isinstance(ha.topology, ClusterSet)
        watcher = watch(ha, prefix, watchers, poll=0.5)
        old = ha.primary()
        replica = next(
            node.port
            for node in ha.topology.nodes
            if call(node.port, None, "ROLE")[0] == "slave"
            and int(call(node.port, None, "ROLE")[2]) == old[1]
        )
        assert call(replica, None, "CLUSTER", "FAILOVER") == "OK"
        ha.topology.wait_owner_changed(ha.keys.state, old)
        assert cli(ha, prefix, "hold") == 0
        wait_for(lambda: watcher.snapshot and watcher.snapshot.mode is Mode.HOLD, 4)
        primary = ha.primary_client()
        try:  # its heartbeat reaches the new owner too: writes follow the MOVED
            key = ha.keys.proc(watcher.proc_id)
            wait_for(lambda: '"mode":"hold"' in (primary.get(key) or ""), 4, what=key)
        finally:
            primary.close()


def test_sentinel_passwords_never_logged_through_a_failover(
    prefix: str, watchers: list[StateWatcher], caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with SentinelSet(password="data-s3cret", sentinel_password="sent-s3cret") as topology:
        url = topology.url()
        ha = HA("sentinel", topology, url, Keys.for_url(prefix, url))
        caplog.set_level(logging.DEBUG, logger="gatekeeper")
        watcher = watch(ha, prefix, watchers, poll=0.3)
        old, _ = topology.kill_master()
        assert cli(ha, prefix, "status") in (0, 75)  # whether or not a master is named yet
        topology.wait_failover(old)
        wait_for(lambda: cli(ha, prefix, "maintenance") == 0, 5, interval=0.1)
        wait_for(lambda: watcher.snapshot and watcher.snapshot.mode is Mode.MAINTENANCE, 6)
    shown = caplog.text + "".join(capsys.readouterr())
    assert "unreachable" in caplog.text  # the failover was logged...
    assert "s3cret" not in shown  # ...and no password with it


def test_wrong_sentinel_password_is_refused_in_one_line(
    prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with SentinelSet(sentinel_password="sent-s3cret") as topology:
        url = topology.url().replace("sent-s3cret", "not-it")
        status = main(["--redis-url", url, "--prefix", prefix, "status"])
    err = capsys.readouterr().err
    assert status != 0
    assert len(err.strip().splitlines()) == 1
    assert "not-it" not in err


def test_least_privilege_cluster_user_runs_the_watcher_and_the_cli(
    prefix: str, watchers: list[StateWatcher]
) -> None:
    # The README's ACL with the cluster's additions: the hash-tagged prefix, CLUSTER SLOTS.
    tagged = "{" + prefix + "}"
    rules = [*ACL_RULES.format(password="pw", prefix=tagged).split(), "+cluster|slots"]
    with ClusterSet() as topology:
        for port in topology.ports:
            call(port, None, "ACL", "SETUSER", "gk", *rules)
        url = topology.url().replace("redis+cluster://", "redis+cluster://gk:pw@")
        ha = HA("cluster", topology, url, Keys.for_url(prefix, url))
        watcher = watch(ha, prefix, watchers)
        for mode in (Mode.HOLD, Mode.OPEN):
            assert cli(ha, prefix, mode.value) == 0
            wait_for(lambda m=mode: watcher.snapshot and watcher.snapshot.mode is m, 3)  # type: ignore[misc]
        assert cli(ha, prefix, "status") == 0
