"""The pure decision: one table, one row per situation."""

from __future__ import annotations

import time

import pytest

from gatekeeper import Decision, Mode, Reason, RequestFacts, build_options, decide
from gatekeeper.core.bypass import make_token
from gatekeeper.core.decision import hold_deadline, is_bypass_visit, path_matches

SECRET = "s3cret-token-0123456789"
NOW = 1_800_000_000.0

OPTIONS = build_options(
    {
        "redis_url": "redis://127.0.0.1:1/0",
        "exempt_paths": "/static/,/admin/status",
        "exempt_networks": "10.1.0.0/16,2001:db8::/32",
        "trusted_proxies": "192.168.0.0/24",
        "bypass_secret": SECRET,
    },
    lookup=lambda name: None,
)
REJECTING = build_options(
    {"readonly_writes": "reject", "redis_url": "redis://127.0.0.1:1/0"}, lookup=lambda n: None
)
VALID_COOKIE = f"other=1; gatekeeper_bypass={make_token(SECRET, NOW, 3600)}"
EXPIRED_COOKIE = f"gatekeeper_bypass={make_token(SECRET, NOW - 7200, 3600)}"
FORGED_COOKIE = "gatekeeper_bypass=9999999999.deadbeef"

P, H, R = Decision.PASS, Decision.HOLD, Decision.REJECT

CASES = [
    # id, mode, facts, expected decision, expected reason
    ("open-get", Mode.OPEN, RequestFacts("GET", "/"), P, "open"),
    ("open-post", Mode.OPEN, RequestFacts("POST", "/x"), P, "open"),
    ("hold-get", Mode.HOLD, RequestFacts("GET", "/"), H, "hold"),
    ("hold-post", Mode.HOLD, RequestFacts("POST", "/orders"), H, "hold"),
    ("maintenance-get", Mode.MAINTENANCE, RequestFacts("GET", "/"), R, "maintenance"),
    ("readonly-get", Mode.READONLY, RequestFacts("GET", "/"), P, "readonly-read"),
    ("readonly-head", Mode.READONLY, RequestFacts("HEAD", "/"), P, "readonly-read"),
    ("readonly-options", Mode.READONLY, RequestFacts("OPTIONS", "/"), P, "readonly-read"),
    ("readonly-lowercase-get", Mode.READONLY, RequestFacts("get", "/"), P, "readonly-read"),
    ("readonly-post", Mode.READONLY, RequestFacts("POST", "/"), H, "readonly"),
    ("readonly-delete", Mode.READONLY, RequestFacts("DELETE", "/"), H, "readonly"),
    ("readonly-trace-is-a-write", Mode.READONLY, RequestFacts("TRACE", "/"), H, "readonly"),
    ("health-exact", Mode.MAINTENANCE, RequestFacts("GET", "/healthz"), P, "health-path"),
    ("health-below", Mode.HOLD, RequestFacts("GET", "/healthz/db"), P, "health-path"),
    ("health-lookalike", Mode.MAINTENANCE, RequestFacts("GET", "/healthzz"), R, "maintenance"),
    ("health-dotdot", Mode.MAINTENANCE, RequestFacts("GET", "/healthz/../admin"), R, "maintenance"),
    ("exempt-prefix-slash", Mode.HOLD, RequestFacts("GET", "/static/app.css"), P, "exempt-path"),
    ("exempt-prefix-root", Mode.HOLD, RequestFacts("GET", "/static"), H, "hold"),
    ("exempt-exact", Mode.MAINTENANCE, RequestFacts("POST", "/admin/status"), P, "exempt-path"),
    ("non-ascii-path", Mode.MAINTENANCE, RequestFacts("GET", "/caf\xe9/\u2603"), R, "maintenance"),
    (
        "network-v4",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", peer="10.1.2.3"),
        P,
        "exempt-network",
    ),
    ("network-v6", Mode.HOLD, RequestFacts("GET", "/", peer="2001:db8::1"), P, "exempt-network"),
    (
        "network-v4-mapped",
        Mode.HOLD,
        RequestFacts("GET", "/", peer="::ffff:10.1.0.9"),
        P,
        "exempt-network",
    ),
    ("network-outside", Mode.HOLD, RequestFacts("GET", "/", peer="10.2.0.1"), H, "hold"),
    (
        "xff-spoofed-from-untrusted-peer",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", peer="203.0.113.9", forwarded_for="10.1.2.3"),
        R,
        "maintenance",
    ),
    (
        "xff-from-trusted-proxy",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", peer="192.168.0.5", forwarded_for="10.1.2.3"),
        P,
        "exempt-network",
    ),
    (
        "xff-left-spoof-behind-trusted-proxy",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", peer="192.168.0.5", forwarded_for="10.1.2.3, 203.0.113.9"),
        R,
        "maintenance",
    ),
    (
        "xff-malformed",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", peer="192.168.0.5", forwarded_for="10.1.2.3, nonsense"),
        R,
        "maintenance",
    ),
    ("peer-unparseable", Mode.HOLD, RequestFacts("GET", "/", peer="unix:/tmp/s"), H, "hold"),
    (
        "bypass-header",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", bypass_header=SECRET),
        P,
        "bypass",
    ),
    (
        "bypass-header-wrong",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", bypass_header=SECRET[:-1] + "x"),
        R,
        "maintenance",
    ),
    (
        "bypass-header-non-ascii",
        Mode.MAINTENANCE,
        RequestFacts("GET", "/", bypass_header="\u00e9" * 20),
        R,
        "maintenance",
    ),
    ("bypass-cookie", Mode.HOLD, RequestFacts("POST", "/", cookie=VALID_COOKIE), P, "bypass"),
    (
        "bypass-cookie-expired",
        Mode.HOLD,
        RequestFacts("GET", "/", cookie=EXPIRED_COOKIE),
        H,
        "hold",
    ),
    ("bypass-cookie-forged", Mode.HOLD, RequestFacts("GET", "/", cookie=FORGED_COOKIE), H, "hold"),
    (
        "bypass-cookie-is-the-secret",
        Mode.HOLD,
        RequestFacts("GET", "/", cookie=f"gatekeeper_bypass={SECRET}"),
        H,
        "hold",
    ),
    (
        "cookie-garbage",
        Mode.HOLD,
        RequestFacts("GET", "/", cookie=";;;=\x00gatekeeper_bypass"),
        H,
        "hold",
    ),
]


@pytest.mark.parametrize(
    ("mode", "facts", "decision", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in CASES],
)
def test_decision_table(mode: Mode, facts: RequestFacts, decision: Decision, reason: str) -> None:
    verdict = decide(mode, facts, OPTIONS, NOW)
    assert (verdict.decision, verdict.reason.value) == (decision, reason)


def test_readonly_write_with_reject_option_rejects() -> None:
    verdict = decide(Mode.READONLY, RequestFacts("POST", "/"), REJECTING, NOW)
    assert (verdict.decision, verdict.reason) == (Decision.REJECT, Reason.READONLY)


def test_no_secret_configured_ignores_bypass_header() -> None:
    facts = RequestFacts("GET", "/", bypass_header="", cookie="gatekeeper_bypass=")
    assert decide(Mode.MAINTENANCE, facts, REJECTING, NOW).decision is Decision.REJECT


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(f"/__gatekeeper__/bypass/{SECRET}", True, id="exact"),
        pytest.param(f"/__gatekeeper__/bypass/{SECRET}/", True, id="trailing-slash"),
        pytest.param(f"/__gatekeeper__/bypass/{SECRET}x", False, id="longer"),
        pytest.param("/__gatekeeper__/bypass/", False, id="empty"),
        pytest.param(f"/other/{SECRET}", False, id="other-path"),
    ],
)
def test_bypass_visit_paths(path: str, expected: bool) -> None:
    assert is_bypass_visit(path, OPTIONS) is expected


@pytest.mark.parametrize(
    ("path", "prefixes", "expected"),
    [
        pytest.param("/a", ("/a",), True, id="exact"),
        pytest.param("/a/b", ("/a",), True, id="below"),
        pytest.param("/ab", ("/a",), False, id="sibling"),
        pytest.param("/a/./b", ("/a",), False, id="dot-segment"),
        pytest.param("/api/v1", ("/api/",), True, id="slash-prefix"),
        pytest.param("/api", ("/api/",), False, id="slash-prefix-root"),
        pytest.param("/x", (), False, id="none-configured"),
    ],
)
def test_path_matches(path: str, prefixes: tuple[str, ...], expected: bool) -> None:
    assert path_matches(path, prefixes) is expected


def test_hold_deadline_prefers_earlier_hold_until() -> None:
    assert hold_deadline(100.0, None, OPTIONS) == 100.0 + OPTIONS.hold_timeout
    assert hold_deadline(100.0, 105.0, OPTIONS) == 105.0
    assert hold_deadline(100.0, 10_000.0, OPTIONS) == 100.0 + OPTIONS.hold_timeout


def test_same_facts_same_verdict_and_cookie_expires_with_time() -> None:
    # "now" is an argument: the same facts give the same verdict, a later "now" expires it.
    facts = RequestFacts("GET", "/", cookie=VALID_COOKIE)
    assert decide(Mode.HOLD, facts, OPTIONS, NOW) == decide(Mode.HOLD, facts, OPTIONS, NOW)
    assert decide(Mode.HOLD, facts, OPTIONS, time.time() + 10**9).decision is Decision.HOLD
