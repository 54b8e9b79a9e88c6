"""The decision: PASS, HOLD or REJECT, from the mode, the request's facts and the options.

This module is pure: no clock, no Redis, no ``environ`` or ``scope``. The WSGI and ASGI
adapters extract a :class:`RequestFacts` and act on the :class:`Verdict`.

Order, first match wins: the health paths of a draining process (``drain_health``); a
handoff (every request but health and exempt paths and ``OPTIONS``); open mode; health
and exempt paths; the bypass header or cookie; exempt client networks; then
the mode (``maintenance`` rejects, ``hold`` holds, ``readonly`` passes safe methods and
holds or rejects the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from werkzeug.http import parse_cookie

from gatekeeper.core.bypass import secret_matches, token_valid
from gatekeeper.core.modes import SAFE_METHODS, Mode
from gatekeeper.core.networks import client_address, in_networks

if TYPE_CHECKING:
    from gatekeeper.options import GateOptions

__all__ = [
    "EXEMPT_REASONS",
    "HANDOFF",
    "PASS_OPEN",
    "Decision",
    "Reason",
    "RequestFacts",
    "Verdict",
    "decide",
    "hold_deadline",
    "is_bypass_visit",
    "path_matches",
]


class Decision(Enum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    HOLD = "hold"
    REJECT = "reject"


class Reason(Enum):
    """Why a request got its verdict. The value is the wire name: the ``X-Gatekeeper``
    header and the JSON ``reason`` of a 503 carry it, and the page titles are keyed by it."""

    OPEN = "open"
    HANDOFF = "handoff"
    DRAINING = "draining"
    HEALTH_PATH = "health-path"
    EXEMPT_PATH = "exempt-path"
    BYPASS = "bypass"
    BYPASS_GRANTED = "bypass-granted"
    EXEMPT_NETWORK = "exempt-network"
    MAINTENANCE = "maintenance"
    HOLD = "hold"
    READONLY_READ = "readonly-read"
    READONLY = "readonly"
    CAPACITY = "capacity"
    WRITE_CAPACITY = "write-capacity"
    HOLD_TIMEOUT = "hold-timeout"
    DISCONNECTED = "disconnected"


class Verdict(NamedTuple):
    decision: Decision
    reason: Reason


EXEMPT_REASONS = frozenset(
    {Reason.HEALTH_PATH, Reason.EXEMPT_PATH, Reason.BYPASS, Reason.EXEMPT_NETWORK}
)
"""Reasons of requests that pass whatever the mode; they are not counted as in flight,
so the runner's drain never waits for a health check or a staff request."""


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the decision may know about a request; adapters fill it from headers."""

    method: str
    path: str
    peer: str | None = None
    forwarded_for: str | None = None
    bypass_header: str | None = None
    cookie: str | None = None
    accept: str | None = None
    secure: bool = False
    target: bytes = b""
    """The request target as sent (path and query, percent-encoded): what a handoff's
    redirect points at, once made safe (``responses.redirect_location``)."""


PASS_OPEN = Verdict(Decision.PASS, Reason.OPEN)
HANDOFF = Verdict(Decision.REJECT, Reason.HANDOFF)
"""Answered with a redirect (or, for API clients, a 503) that another release takes."""


def path_matches(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or below one, segment-wise.

    ``/healthz`` matches ``/healthz`` and ``/healthz/db`` but not ``/healthzz``; a prefix
    ending in ``/`` matches anything under it. A path with dot segments never matches,
    so ``/healthz/../admin`` cannot borrow an exemption.
    """
    if not prefixes or "/." in path:
        return False
    for prefix in prefixes:
        if path == prefix:
            return True
        stem = prefix if prefix.endswith("/") else prefix + "/"
        if path.startswith(stem):
            return True
    return False


def is_bypass_visit(path: str, options: GateOptions) -> bool:
    """Whether the request is a visit to ``<bypass_path>/<secret>`` (grants the cookie)."""
    secret = options.bypass_secret
    if not secret:
        return False
    stem = options.bypass_path.rstrip("/") + "/"
    if not path.startswith(stem):
        return False
    return secret_matches(secret, path[len(stem) :].rstrip("/"))


def _bypassed(request: RequestFacts, options: GateOptions, now: float) -> bool:
    secret = options.bypass_secret
    if not secret:
        return False
    if request.bypass_header is not None and secret_matches(secret, request.bypass_header.strip()):
        return True
    if request.cookie and options.bypass_cookie in request.cookie:
        return token_valid(secret, parse_cookie(request.cookie).get(options.bypass_cookie), now)
    return False


def decide(
    mode: Mode,
    request: RequestFacts,
    options: GateOptions,
    now: float,
    *,
    closing: bool = False,
    handoff: bool = False,
) -> Verdict:
    """The verdict for one request in one mode (see the module docstring for the order).

    ``closing``: keep-alive is off for this process (a reload is coming); with
    ``drain_health`` its health paths then answer 503, so that load balancers with active
    checks take the host out of rotation first.

    ``handoff``: a newer release takes this process's requests. Health checks still
    reach the process (it is alive until its server retires it), exempt paths are by
    definition safe on any code, and ``OPTIONS`` passes because browsers fail a CORS
    preflight that is redirected.
    """
    if closing and options.drain_health and path_matches(request.path, options.health_paths):
        return Verdict(Decision.REJECT, Reason.DRAINING)
    if (
        handoff
        and request.method.upper() != "OPTIONS"
        and not (
            path_matches(request.path, options.health_paths)
            or path_matches(request.path, options.exempt_paths)
            or request.path == options.metrics_path
        )
    ):
        return HANDOFF
    if mode is Mode.OPEN:
        return PASS_OPEN
    if path_matches(request.path, options.health_paths):
        return Verdict(Decision.PASS, Reason.HEALTH_PATH)
    if path_matches(request.path, options.exempt_paths) or request.path == options.metrics_path:
        return Verdict(Decision.PASS, Reason.EXEMPT_PATH)
    if _bypassed(request, options, now):
        return Verdict(Decision.PASS, Reason.BYPASS)
    if options.exempt_networks:
        address = client_address(request.peer, request.forwarded_for, options.trusted_proxies)
        if in_networks(address, options.exempt_networks):
            return Verdict(Decision.PASS, Reason.EXEMPT_NETWORK)
    if mode is Mode.MAINTENANCE:
        return Verdict(Decision.REJECT, Reason.MAINTENANCE)
    if mode is Mode.HOLD:
        return Verdict(Decision.HOLD, Reason.HOLD)
    if request.method.upper() in SAFE_METHODS:
        return Verdict(Decision.PASS, Reason.READONLY_READ)
    if options.readonly_writes == "reject":
        return Verdict(Decision.REJECT, Reason.READONLY)
    return Verdict(Decision.HOLD, Reason.READONLY)


def hold_deadline(started: float, hold_until: float | None, options: GateOptions) -> float:
    """When a request held since ``started`` stops waiting: ``hold_timeout`` after it
    arrived, or the operator's ``hold_until``, whichever comes first."""
    deadline = started + options.hold_timeout
    if hold_until is not None and hold_until < deadline:
        return hold_until
    return deadline
