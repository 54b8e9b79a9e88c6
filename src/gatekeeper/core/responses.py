"""The answers the gate gives on its own: the 503 page or JSON, and the bypass redirect.

Pure functions returning a :class:`Reply`; the adapters send it. Nothing from the request
is copied into a reply: the request only selects HTML or JSON. The operator's message
comes from Redis and is HTML-escaped in the page.
"""

from __future__ import annotations

import functools
import html
import json
from dataclasses import dataclass
from http import HTTPStatus
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from gatekeeper.core.decision import Reason, path_matches

if TYPE_CHECKING:
    from gatekeeper.options import GateOptions
    from gatekeeper.state.snapshot import Snapshot

__all__ = ["Reply", "bypass_granted", "unavailable", "wants_json"]


@functools.cache
def default_template() -> str:
    """The packaged page, read on the first 503 (the open path never reads it)."""
    return files(__package__).joinpath("templates/maintenance.html").read_text("utf-8")


TITLES = {
    Reason.MAINTENANCE.value: "Down for maintenance",
    Reason.HOLD_TIMEOUT.value: "Upgrade in progress",
    Reason.READONLY.value: "Read-only during an upgrade",
    Reason.CAPACITY.value: "Too busy to wait",
    Reason.DRAINING.value: "Restarting",
    Reason.WRITE_CAPACITY.value: "Read-only during an upgrade",
    "unavailable": "Temporarily unavailable",
}
"""Page titles by the reason's wire name (what Django's template page reads back from
``X-Gatekeeper``); anything else gets the "unavailable" title."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        """``"503 Service Unavailable"``: WSGI's status string, for any status code."""
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:  # not a registered code: WSGI still needs a reason phrase
            phrase = "Unknown"
        return f"{self.status} {phrase}"


def wants_json(accept: str | None, path: str, options: GateOptions) -> bool:
    """JSON for paths under ``api_prefixes`` and for clients that prefer it in ``Accept``."""
    if path_matches(path, options.api_prefixes):
        return True
    if not accept:
        return False
    best = parse_accept_header(accept, MIMEAccept).best_match(["text/html", "application/json"])
    return best == "application/json"


def unavailable(
    snapshot: Snapshot,
    *,
    reason: Reason,
    options: GateOptions,
    method: str,
    path: str,
    accept: str | None,
) -> Reply:
    """The 503: page for browsers, JSON for API clients, no body for HEAD."""
    retry_after = options.retry_after if snapshot.retry_after is None else snapshot.retry_after
    retry_after = max(1, retry_after)
    message = snapshot.message or options.message
    wire = reason.value
    title = TITLES.get(wire, TITLES["unavailable"])
    if wants_json(accept, path, options):
        payload = {
            "error": "service_unavailable",
            "reason": wire,
            "message": message,
            "retry_after": retry_after,
        }
        body = json.dumps(payload).encode("utf-8")
        content_type = "application/json"
    else:
        template = Template(options.template_text or default_template())
        page = template.safe_substitute(
            title=html.escape(title),
            message=html.escape(message),
            retry_after=str(retry_after),
            reason=html.escape(wire),
        )
        body = page.encode("utf-8")
        content_type = "text/html; charset=utf-8"
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Retry-After", str(retry_after)),
        ("Cache-Control", "no-store"),
        ("X-Gatekeeper", wire),
    ]
    return Reply(503, headers, b"" if method.upper() == "HEAD" else body)


def bypass_granted(token: str, options: GateOptions, *, secure: bool) -> Reply:
    """The answer to a visit of the secret path: set the bypass cookie, go to ``/``."""
    cookie = (
        f"{options.bypass_cookie}={token}; Max-Age={options.bypass_max_age}; Path=/; "
        "HttpOnly; SameSite=Lax"
    )
    if secure or options.bypass_secure_cookie:
        cookie += "; Secure"
    headers = [
        ("Location", "/"),
        ("Set-Cookie", cookie),
        ("Cache-Control", "no-store"),
        ("Content-Length", "0"),
    ]
    return Reply(303, headers, b"")
