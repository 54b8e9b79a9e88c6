"""Malformed headers, odd Redis values, generated input: a clear answer, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper import Mode, Reason, RequestFacts, build_options, decide
from gatekeeper.core.networks import client_address
from gatekeeper.core.responses import unavailable
from gatekeeper.state.keys import Keys
from gatekeeper.state.snapshot import parse_snapshot
from gatekeeper.testing import RedisServer
from tests.faults.conftest import KINDS, ServeFactory
from tests.support.helpers import wait_for
from tests.support.servers import gunicorn, uvicorn

OPTIONS = build_options(
    {
        "bypass_secret": "0123456789abcdefXYZ",
        "exempt_networks": "10.0.0.0/8",
        "trusted_proxies": "127.0.0.0/8",
        "api_prefixes": "/api/",
    },
    lookup=lambda name: None,
)
header_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFF), max_size=300)


@settings(max_examples=300)
@given(
    mode=st.sampled_from(list(Mode)),
    method=header_text,
    path=header_text,
    peer=st.one_of(st.none(), header_text, st.ip_addresses().map(str)),
    forwarded=st.one_of(st.none(), header_text),
    bypass=st.one_of(st.none(), header_text),
    cookie=st.one_of(st.none(), header_text),
)
def test_decide_never_raises_on_any_headers(
    mode: Mode,
    method: str,
    path: str,
    peer: str | None,
    forwarded: str | None,
    bypass: str | None,
    cookie: str | None,
) -> None:
    facts = RequestFacts(method, path, peer, forwarded, bypass, cookie)
    verdict = decide(mode, facts, OPTIONS, 1_800_000_000.0)
    assert verdict.decision.value in {"pass", "hold", "reject"}


@given(peer=header_text, forwarded=header_text)
def test_client_address_never_raises(peer: str, forwarded: str) -> None:
    client_address(peer, forwarded, OPTIONS.trusted_proxies)


@settings(max_examples=300)
@given(
    state=st.one_of(st.none(), st.binary(max_size=30)),
    info=st.dictionaries(
        st.sampled_from([b"message", b"retry_after", b"hold_until", b"since", b"ttl", b"owner"]),
        st.one_of(st.binary(max_size=80), st.from_regex(rb"-?[0-9]{0,30}(\.[0-9]*)?(e[0-9]+)?")),
    ),
    accept=st.one_of(st.none(), header_text),
    method=st.sampled_from(["GET", "HEAD", "POST", "PATCH"]),
)
def test_any_info_hash_renders_a_safe_503(
    state: bytes | None, info: dict[bytes, bytes], accept: str | None, method: str
) -> None:
    snapshot, _ = parse_snapshot(state, info, unknown_mode=Mode.OPEN)
    reply = unavailable(
        snapshot, reason=Reason.MAINTENANCE, options=OPTIONS, method=method, path="/", accept=accept
    )
    headers = dict(reply.headers)
    assert reply.status == 503
    assert 1 <= int(headers["Retry-After"]) <= 86400
    if headers["Content-Type"].startswith("text/html") and snapshot.message:
        assert "<script" not in reply.body.decode().lower()


def raw_request(port: int, head: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.settimeout(1)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    return int(data.split(b" ")[1]), data


MARKER = "zq-reflect-marker"
NASTY = [
    pytest.param(b"Accept: application/json;q=abc, */*;;;,\r\n", id="bad-accept"),
    pytest.param(
        b"Cookie: gatekeeper_bypass=123.abc; ;;==; =a; gatekeeper_bypass\r\n", id="bad-cookie"
    ),
    pytest.param(b"Cookie: gatekeeper_bypass=\x7f\x01garbage\r\n", id="control-chars"),
    pytest.param(b"X-Forwarded-For: nonsense, , 999.1.1.1, [::1\r\n", id="bad-xff"),
    pytest.param(b"X-Forwarded-For: 10.0.0.1\r\n", id="spoof-xff-exempt-net"),
    pytest.param(b"X-Gatekeeper-Bypass: \xff\xfe\xfd\r\n", id="latin1-bypass"),
    pytest.param(b"X-Long: " + b"a" * 7000 + b"\r\n", id="long-header"),
    pytest.param(f"X-Note: {MARKER}\r\n".encode(), id="marker-header"),
]


@pytest.fixture(params=KINDS, scope="module")
def maintenance_app(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[int]:
    """One server per kind for the whole table: the state does not change between rows."""
    prefix = f"badinput{request.param}"
    client = redis.Redis.from_url(redis_server.url)
    keys = Keys(prefix)
    client.hset(keys.info, mapping={"message": "<script>alert(1)</script>", "retry_after": "abc"})
    client.set(keys.state, "maintenance")
    env = {
        "GATEKEEPER_REDIS_URL": redis_server.url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_EXEMPT_NETWORKS": "10.0.0.0/8",
        "GATEKEEPER_TRUSTED_PROXIES": "192.0.2.0/24",
        "GATEKEEPER_BYPASS_SECRET": "0123456789abcdefXYZ",
        "JOURNAL_PATH": str(tmp_path_factory.mktemp("journal") / "journal"),
        # uvicorn itself trusts X-Forwarded-For from 127.0.0.1 unless told otherwise.
        "FORWARDED_ALLOW_IPS": "192.0.2.1",
    }
    if request.param == "gunicorn":
        server = gunicorn("tests.support.apps.journal:wsgi_app", env)
    else:
        server = uvicorn("tests.support.apps.journal:asgi_app", env, workers=2)
    with server:
        yield server.port
    client.delete(keys.state, keys.info)


@pytest.mark.parametrize("header", NASTY)
def test_malformed_headers_get_a_clean_503(maintenance_app: int, header: bytes) -> None:
    head = f"GET /caf%C3%A9/{MARKER}?q={MARKER} HTTP/1.1\r\nHost: t\r\n".encode() + header + b"\r\n"
    status, data = raw_request(maintenance_app, head)
    if status == 400 and b"X-Gatekeeper" not in data and b"x-gatekeeper" not in data:
        return  # the server refused the bytes itself, before any app code ran
    assert status == 503
    assert b"Retry-After: 10" in data or b"retry-after: 10" in data  # "abc" ignored: default
    assert MARKER.encode() not in data
    assert b"Traceback" not in data
    assert b"&lt;script&gt;" in data


@pytest.mark.parametrize("kind", KINDS)
def test_non_ascii_raw_path_is_answered_not_crashed(
    kind: str, serve: ServeFactory, redis_url: str, prefix: str, journal: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}:state", "maintenance")
    app = serve(kind, redis_url)
    status, data = raw_request(app.port, b"GET /caf\xc3\xa9/\xff\xfe HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status in (400, 503)  # the server may refuse raw non-ASCII before the app
    assert b"Traceback" not in data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("maintenence", 200, id="typo-fails-open"),
        pytest.param("HOLD\n", None, id="case-and-newline-holds"),
        pytest.param("\x00\xff", 200, id="binary-fails-open"),
    ],
)
def test_odd_state_values_over_http(
    value: str, expected: int | None, serve: ServeFactory, redis_url: str, prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}:state", value.encode("latin-1"))
    app = serve("gunicorn", redis_url, GATEKEEPER_HOLD_TIMEOUT="0.5")
    status, _ = raw_request(app.port, b"GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: 1\r\n\r\n")
    if expected is None:  # held until its deadline, then the 503
        assert status == 503
    else:
        assert status == expected


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        pytest.param("-5", b"1", id="negative"),
        pytest.param("1e99", b"86400", id="huge"),
        pytest.param("30.2", b"31", id="fraction"),
    ],
)
def test_retry_after_values_from_redis_are_clamped(
    retry_after: str, header: bytes, serve: ServeFactory, redis_url: str, prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(f"{prefix}:info", "retry_after", retry_after)
    client.set(f"{prefix}:state", "maintenance")
    app = serve("uvicorn", redis_url, workers=1)
    _status, data = wait_for(
        lambda: (
            (got := raw_request(app.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"))[0] == 503 and got
        ),
        3.0,
    )
    assert b"retry-after: " + header + b"\r\n" in data.lower()
