"""The URL forms of ``redis_url``: one server, Sentinel and Cluster (pure parsing)."""

from __future__ import annotations

import pytest

from gatekeeper import OptionError, build_options
from gatekeeper._parsers import redact_url
from gatekeeper._redis_urls import parse_target
from gatekeeper.state.keys import Keys, has_hash_tag


def test_plain_url_is_left_to_redis_py() -> None:
    target = parse_target("redis://:pw@localhost:6380/2")
    assert (target.kind, target.nodes, target.service) == ("redis", (), None)
    assert target.url == "redis://:pw@localhost:6380/2"


def test_sentinel_url_lists_sentinels_service_and_db() -> None:
    target = parse_target("redis+sentinel://u:pw@s1:26380,s2,[::1]:26381/mymaster/3")
    assert target.kind == "sentinel"
    assert target.nodes == (("s1", 26380), ("s2", 26379), ("::1", 26381))
    assert target.service == "mymaster"
    assert target.db == 3
    assert target.connection["username"] == "u"
    assert target.connection["password"] == "pw"
    assert not target.tls
    assert "ssl" not in target.connection


def test_sentinel_credentials_come_from_the_query_and_stay_apart() -> None:
    target = parse_target(
        "redis+sentinel://:masterpw@s1/svc?sentinel_username=watch&sentinel_password=sentpw"
        "&socket_timeout=2.5"
    )
    assert dict(target.sentinel_auth) == {"username": "watch", "password": "sentpw"}
    assert target.connection["password"] == "masterpw"
    assert target.connection["socket_timeout"] == 2.5
    assert "sentinel_password" not in target.connection
    assert set(target.secrets()) == {"masterpw", "sentpw"}


def test_tls_sentinel_url_turns_ssl_on_with_its_options() -> None:
    target = parse_target("rediss+sentinel://s1/svc?ssl_cert_reqs=none")
    assert target.tls
    assert target.connection["ssl"] is True
    assert target.connection["ssl_cert_reqs"] == "none"
    assert "connection_class" not in target.connection


def test_cluster_url_lists_startup_nodes() -> None:
    target = parse_target("redis+cluster://:pw@n1:7000,n2:7001")
    assert target.kind == "cluster"
    assert target.nodes == (("n1", 7000), ("n2", 7001))
    assert target.db == 0
    assert target.connection["password"] == "pw"
    assert parse_target("rediss+cluster://n1:7000/0").tls


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("redis+sentinel://s1:26379", "names the service"),
        ("redis+sentinel://s1/svc/x", "only a database number"),
        ("redis+sentinel://s1/svc/1/2", "only a database number"),
        ("redis+sentinel://s1:notaport/svc", "no valid port"),
        ("redis+sentinel://s1:70000/svc", "no valid port"),
        ("redis+cluster://", "at least one host"),
        ("redis+cluster://n1:7000/1", "only database 0"),
        ("redis+cluster://n1?sentinel_password=x", "Sentinel URLs only"),
        ("http://localhost", "unknown scheme 'http'"),
        ("localhost:6379", "starts with a scheme"),
        ("redis+sentinel://s1/svc?ssl_ca_certs=/ca.pem", "needs TLS: use a rediss\\+sentinel://"),
        ("redis+cluster://n1?ssl_cert_reqs=none", "needs TLS: use a rediss\\+cluster://"),
        ("redis://h?ssl_ca_certs=/ca.pem&ssl_cert_reqs=none", "need TLS: use a rediss://"),
    ],
)
def test_bad_url_is_refused_with_the_reason(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_target(url)


def test_bad_ha_url_error_shows_no_password() -> None:
    with pytest.raises(OptionError) as info:
        build_options({"redis_url": "redis+sentinel://:hunter2@s1/svc?db=x"})
    assert "hunter2" not in str(info.value)
    assert "redis+sentinel://:***@s1/svc" in str(info.value)


def test_target_repr_shows_no_password() -> None:
    target = parse_target("redis+sentinel://:hunter2@s1/svc?sentinel_password=hunter3")
    assert "hunter" not in repr(target)


def test_redact_url_hides_every_password_of_an_ha_url() -> None:
    url = "redis+sentinel://u:hunter2@s1:1,s2:2/svc?sentinel_password=hunter3&db=1"
    assert redact_url(url) == "redis+sentinel://u:***@s1:1,s2:2/svc?sentinel_password=***&db=1"


def test_ha_urls_are_accepted_as_the_option() -> None:
    for url in ("redis+sentinel://s1,s2/svc", "rediss+cluster://n1:7000,n2:7000"):
        assert build_options({"redis_url": url}).redis_url == url


@pytest.mark.parametrize(
    ("name", "tagged"),
    [("gatekeeper", False), ("{gatekeeper}", True), ("app:{gk}", True), ("{}gk", False),
     ("gk{", False), ("a}{b}", True)],
)  # fmt: skip
def test_hash_tag_is_found_as_redis_cluster_finds_it(name: str, tagged: bool) -> None:
    assert has_hash_tag(name) is tagged


def test_cluster_keys_share_one_hash_tag() -> None:
    keys = Keys.for_url("gatekeeper", "redis+cluster://n1:7000")
    assert keys.state == "{gatekeeper}:state"
    assert keys.proc("h:1") == "{gatekeeper}:proc:h:1"
    assert Keys.for_url("{app}:gk", "redis+cluster://n1").state == "{app}:gk:state"


def test_keys_outside_a_cluster_keep_the_prefix_as_given() -> None:
    assert Keys.for_url("gatekeeper", "redis://localhost").state == "gatekeeper:state"
    assert Keys.for_url("gk", "redis+sentinel://s1/svc").state == "gk:state"
