"""The handoff's pure parts: the redirect's Location, the reply, the verdict, the key."""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper import build_options
from gatekeeper.core.decision import HANDOFF, Decision, RequestFacts, decide
from gatekeeper.core.handoff import HANDOFF_NOTE, encode_path, handoff_reply, redirect_location
from gatekeeper.core.modes import Mode
from gatekeeper.options import OptionError
from gatekeeper.state.snapshot import Snapshot, parse_handoff, read_snapshot

ORIGIN = "http://app.test/some/page"
# What a Location may hold once made safe: RFC 3986 path and query characters and "%".
ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%")


def assert_same_origin(location: str) -> None:
    assert set(location) <= ALLOWED, location
    assert location.startswith("/"), location
    assert not location.startswith("//"), location
    joined = urlsplit(urljoin(ORIGIN, location))
    assert (joined.scheme, joined.netloc) == ("http", "app.test"), location


@pytest.mark.parametrize(
    ("target", "location"),
    [
        (b"/", "/"),
        (b"/notes/7?page=2&q=a%20b", "/notes/7?page=2&q=a%20b"),
        (b"/a%2Fb", "/a%2Fb"),
        (b"//evil.example/x", "/%2Fevil.example/x"),
        (b"///evil.example", "/%2F/evil.example"),
        (b"/\\evil.example", "/%5Cevil.example"),
        (b"/\\/evil.example", "/%5C/evil.example"),
        (b"/x\r\nSet-Cookie: a=b", "/x%0D%0ASet-Cookie:%20a=b"),
        (b"/tab\there", "/tab%09here"),
        (b'/"<script>', "/%22%3Cscript%3E"),
        (b"/caf\xc3\xa9", "/caf%C3%A9"),
        (b"/100%", "/100%25"),
        (b"/100%zz", "/100%25zz"),
        (b"http://evil.example/x", "/http://evil.example/x"),
        (b"evil.example", "/evil.example"),
        (b"/p?next=//evil.example&x=\\y", "/p?next=//evil.example&x=%5Cy"),
        (b"/p?a#frag", "/p?a%23frag"),
        (b"", "/"),
    ],
)
def test_redirect_location_of_target_is_encoded_and_same_origin(
    target: bytes, location: str
) -> None:
    assert redirect_location(target) == location
    assert_same_origin(location)


@given(st.binary(max_size=60), st.one_of(st.none(), st.binary(max_size=30)))
def test_redirect_location_of_any_bytes_stays_on_this_origin(
    path: bytes, query: bytes | None
) -> None:
    target = path if query is None else path + b"?" + query
    location = redirect_location(target)
    assert_same_origin(location)
    if path.startswith(b"/") and not path.startswith(b"//") and b"?" not in path:
        # The same resource: the decoded path is unchanged.
        assert unquote_to_bytes(location.partition("?")[0]) == unquote_to_bytes(path)


def test_handoff_reply_is_a_307_to_the_target_that_ends_nothing_of_the_request() -> None:
    options = build_options({"redis_url": "redis://127.0.0.1:1/0"})
    reply = handoff_reply(b"/notes?id=3", method="POST", path="/notes", options=options)
    headers = dict(reply.headers)
    assert reply.status == 307
    assert headers["Location"] == "/notes?id=3"
    assert headers["Retry-After"] == "0"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Gatekeeper"] == "handoff"
    assert reply.body == HANDOFF_NOTE
    assert len(reply.body) < 100
    assert headers["Content-Length"] == str(len(HANDOFF_NOTE))
    assert "Connection" not in headers  # each adapter closes in its server's own way
    head = handoff_reply(b"/notes", method="HEAD", path="/notes", options=options)
    assert (head.status, head.body) == (307, b"")


def test_handoff_reply_under_api_prefix_is_json_503_unless_redirect_chosen() -> None:
    options = build_options({"redis_url": "redis://127.0.0.1:1/0", "api_prefixes": "/api"})
    reply = handoff_reply(b"/api/notes", method="POST", path="/api/notes", options=options)
    assert reply.status == 503
    assert dict(reply.headers)["Retry-After"] == "1"
    payload = json.loads(reply.body)
    assert (payload["reason"], payload["retry_after"]) == ("handoff", 1)
    other = handoff_reply(b"/notes", method="GET", path="/notes", options=options)
    assert other.status == 307
    redirecting = build_options({**{"api_prefixes": "/api"}, "handoff_api": "redirect"})
    assert handoff_reply(b"/api/x", method="GET", path="/api/x", options=redirecting).status == 307


def facts(method: str = "GET", path: str = "/notes") -> RequestFacts:
    return RequestFacts(method=method, path=path, target=path.encode())


@pytest.mark.parametrize("mode", list(Mode))
def test_decide_under_handoff_hands_off_in_every_mode(mode: Mode) -> None:
    options = build_options({})
    assert decide(mode, facts("POST"), options, 0.0, handoff=True) is HANDOFF
    assert decide(mode, facts("POST"), options, 0.0, handoff=False) is not HANDOFF


def test_decide_under_handoff_lets_health_exempt_and_options_through() -> None:
    options = build_options({"exempt_paths": "/static/"})
    open_pass = Decision.PASS
    assert decide(Mode.OPEN, facts(path="/healthz"), options, 0, handoff=True).decision is open_pass
    assert decide(Mode.OPEN, facts(path="/static/a.css"), options, 0, handoff=True).decision is (
        open_pass
    )
    assert decide(Mode.OPEN, facts("OPTIONS"), options, 0, handoff=True).decision is open_pass
    assert decide(Mode.HOLD, facts("OPTIONS"), options, 0, handoff=True).decision is Decision.HOLD


@pytest.mark.parametrize(
    ("raw", "release", "expected"),
    [
        (None, "v1", False),
        ("", "v1", False),
        ("  ", "v1", False),
        ("v2", "v1", True),
        ("v2", "v2", False),
        (b"v2", "", True),
        (" v2 ", "v2", False),
    ],
)
def test_parse_handoff_hands_off_every_other_release(
    raw: str | bytes | None, release: str, expected: bool
) -> None:
    assert parse_handoff(raw, release) == (expected, None)


def test_parse_handoff_of_a_bad_value_is_ignored_with_a_problem() -> None:
    handoff, problem = parse_handoff("v2 v3\r\n", "v1")
    assert handoff is False
    assert problem is not None
    assert "not a release name" in problem


def test_snapshot_under_handoff_closes_and_leaves_the_fast_path() -> None:
    snapshot = Snapshot(Mode.OPEN, handoff=True)
    assert snapshot.closing is True
    assert snapshot.plain is False
    assert Snapshot(Mode.OPEN).plain is True


@pytest.mark.parametrize(
    ("name", "value"),
    [("handoff_delay", "-1"), ("handoff_delay", "11"), ("handoff_api", "bounce")],
)
def test_bad_handoff_options_raise_naming_the_option(name: str, value: str) -> None:
    with pytest.raises(OptionError, match=f"option {name} "):
        build_options({name: value})


def test_handoff_options_parse_from_strings() -> None:
    options = build_options({"handoff_delay": "0", "handoff_api": "redirect"})
    assert (options.handoff_delay, options.handoff_api) == (0.0, "redirect")


def test_read_snapshot_keeps_when_the_handoff_was_learned_until_it_ends() -> None:
    def read(handoff: str | None, previous: Snapshot | None, now: float) -> Snapshot:
        snapshot, problems = read_snapshot(
            "open", {}, None, handoff, unknown_mode=Mode.OPEN, host="web",
            release="v1", previous=previous, now=now,
        )  # fmt: skip
        assert problems == []
        return snapshot

    first = read("v2", None, 100.0)
    assert (first.handoff, first.closing, first.handoff_at) == (True, True, 100.0)
    later = read("v2", first, 105.0)
    assert later.handoff_at == 100.0  # learned once, kept while it lasts
    ended = read(None, later, 106.0)
    assert (ended.handoff, ended.handoff_at, ended.plain) == (False, None, True)
    again = read("v3", ended, 107.0)
    assert again.handoff_at == 107.0
    assert read("v1", again, 108.0).handoff is False  # its own release takes over


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        (b"/a b", b"/a%20b"),
        (b"/100%", b"/100%25"),
        (b"/%41", b"/%2541"),
        (b"/caf\xc3\xa9", b"/caf%C3%A9"),
    ],
)
def test_encode_path_of_a_decoded_path_gives_its_request_target(
    path: bytes, encoded: bytes
) -> None:
    assert encode_path(path) == encoded
