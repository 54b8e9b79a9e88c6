"""The 503 response and the bypass redirect, built without any request object."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper import Mode, build_options
from gatekeeper.core.decision import Reason
from gatekeeper.core.responses import Reply, bypass_granted, unavailable, wants_json
from gatekeeper.state.snapshot import Snapshot

OPTIONS = build_options({"api_prefixes": "/api/"}, lookup=lambda name: None)


def reply_for(
    snapshot: Snapshot, *, method: str = "GET", path: str = "/", accept: str | None = None
):  # type: ignore[no-untyped-def]
    return unavailable(
        snapshot,
        reason=Reason.MAINTENANCE,
        options=OPTIONS,
        method=method,
        path=path,
        accept=accept,
    )


def headers(reply) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(reply.headers)


def test_html_page_has_retry_after_refresh_and_escaped_message() -> None:
    snapshot = Snapshot(
        Mode.MAINTENANCE, message="<script>alert(1)</script> & back soon", retry_after=42
    )
    reply = reply_for(snapshot, accept="text/html,*/*;q=0.8")
    page = reply.body.decode()
    assert reply.status == 503
    assert reply.status_line == "503 Service Unavailable"
    assert headers(reply)["Retry-After"] == "42"
    assert headers(reply)["Cache-Control"] == "no-store"
    assert headers(reply)["Content-Type"].startswith("text/html")
    assert '<meta http-equiv="refresh" content="42">' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; back soon" in page
    assert "<script>" not in page
    assert headers(reply)["Content-Length"] == str(len(reply.body))


def test_default_retry_after_and_message_when_info_is_empty() -> None:
    reply = reply_for(Snapshot(Mode.MAINTENANCE))
    assert headers(reply)["Retry-After"] == str(OPTIONS.retry_after)
    assert OPTIONS.message in reply.body.decode()


def test_zero_retry_after_never_makes_a_refresh_loop() -> None:
    reply = reply_for(Snapshot(Mode.MAINTENANCE, retry_after=0))
    assert headers(reply)["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("accept", "path", "expected"),
    [
        pytest.param("application/json", "/", True, id="json"),
        pytest.param("application/json, text/plain, */*", "/", True, id="axios"),
        pytest.param("text/html,application/xhtml+xml,*/*;q=0.8", "/", False, id="browser"),
        pytest.param("*/*", "/", False, id="curl"),
        pytest.param(None, "/", False, id="none"),
        pytest.param(";;;q=abc,,", "/", False, id="malformed"),
        pytest.param("text/html", "/api/orders", True, id="api-prefix"),
        pytest.param("x" * 10_000, "/", False, id="very-long"),
    ],
)
def test_wants_json(accept: str | None, path: str, expected: bool) -> None:
    assert wants_json(accept, path, OPTIONS) is expected


def test_json_body_carries_reason_message_and_retry_after() -> None:
    reply = reply_for(
        Snapshot(Mode.MAINTENANCE, message="DB upgrade", retry_after=5), accept="application/json"
    )
    assert headers(reply)["Content-Type"] == "application/json"
    assert json.loads(reply.body) == {
        "error": "service_unavailable",
        "reason": "maintenance",
        "message": "DB upgrade",
        "retry_after": 5,
    }


def test_head_gets_no_body() -> None:
    reply = reply_for(Snapshot(Mode.MAINTENANCE), method="HEAD")
    assert reply.body == b""
    assert int(headers(reply)["Content-Length"]) > 0


def test_custom_template_is_used(tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "page.html"
    page.write_text("<p>$title|$message|$retry_after</p>")
    options = build_options({"template": str(page)}, lookup=lambda name: None)
    reply = unavailable(
        Snapshot(Mode.MAINTENANCE, message="a<b", retry_after=3),
        reason=Reason.MAINTENANCE,
        options=options,
        method="GET",
        path="/",
        accept=None,
    )
    assert reply.body == b"<p>Down for maintenance|a&lt;b|3</p>"


def test_bypass_redirect_sets_http_only_cookie_and_goes_home() -> None:
    reply = bypass_granted("123.abc", OPTIONS, secure=True)
    assert reply.status == 303
    cookie = headers(reply)["Set-Cookie"]
    assert cookie.startswith("gatekeeper_bypass=123.abc;")
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=Lax" in cookie
    assert headers(reply)["Location"] == "/"


@given(
    path=st.text(max_size=200),
    accept=st.one_of(st.none(), st.text(max_size=200)),
    method=st.sampled_from(["GET", "HEAD", "POST", "get", "BREW"]),
)
def test_nothing_from_the_request_is_reflected(path: str, accept: str | None, method: str) -> None:
    marker_path = "/zz-marker-" + path
    reply = reply_for(Snapshot(Mode.MAINTENANCE), method=method, path=marker_path, accept=accept)
    body = reply.body.decode()
    assert "zz-marker" not in body
    assert all("zz-marker" not in value for _, value in reply.headers)


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (303, "303 See Other"),
        (307, "307 Temporary Redirect"),
        (429, "429 Too Many Requests"),
        (503, "503 Service Unavailable"),
        (599, "599 Unknown"),
    ],
)
def test_status_line_for_any_status_is_wsgi_shaped(status: int, line: str) -> None:
    assert Reply(status, [], b"").status_line == line
