"""The gate's answers as Django responses, and the 503 page from a Django template.

The core builds every answer as a :class:`~gatekeeper.core.responses.Reply`. When the
``gatekeeper.contrib.django`` app is installed (and ``GATEKEEPER_TEMPLATE`` is not set,
an explicit page wins), the HTML 503 is rendered from ``gatekeeper/maintenance.html``
instead, so a project overrides it like any app template. The template gets only
``title``, ``message`` (the operator's, autoescaped), ``retry_after`` and ``reason``:
it is rendered without the request, so no context processor runs and nothing from the
request can reach the page. Status and headers stay the core's (only
``Content-Length`` follows the new body); JSON and ``HEAD`` answers are left alone.
If the template cannot be found or rendered, the core's page is sent instead.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.template.loader import render_to_string

from gatekeeper.core.responses import TITLES, Reply
from gatekeeper.options import GateOptions
from gatekeeper.state.snapshot import Snapshot

__all__ = ["TEMPLATE_NAME", "TemplatePages", "to_http_response"]

TEMPLATE_NAME = "gatekeeper/maintenance.html"

log = logging.getLogger("gatekeeper")


def to_http_response(reply: Reply) -> HttpResponse:
    """The reply as a Django response. Reply headers never repeat a name."""
    response = HttpResponse(reply.body, status=reply.status)
    for name, value in reply.headers:
        response[name] = value
    return response


class TemplatePages:
    """Renders the HTML 503 from the Django template; one per middleware instance."""

    def __init__(self, options: GateOptions, enabled: bool) -> None:
        self.options = options
        self.enabled = enabled and options.template_text is None
        self._failure_logged = False

    def render(self, reply: Reply, snapshot: Snapshot | None, method: str) -> Reply:
        """The reply with its HTML page from the template, or ``reply`` unchanged."""
        if not self.enabled or reply.status != 503 or method.upper() == "HEAD":
            return reply
        headers = dict(reply.headers)
        if not headers.get("Content-Type", "").startswith("text/html"):
            return reply
        reason = headers.get("X-Gatekeeper", "unavailable")
        context = {
            "title": TITLES.get(reason, TITLES["unavailable"]),
            "message": (snapshot.message if snapshot else "") or self.options.message,
            "retry_after": int(headers.get("Retry-After", self.options.retry_after)),
            "reason": reason,
        }
        try:
            body = render_to_string(TEMPLATE_NAME, context).encode("utf-8")
        except Exception as exc:  # a broken override must not turn a 503 into a 500
            if not self._failure_logged:
                self._failure_logged = True
                log.error(
                    "gatekeeper: cannot render %s (%s: %s); sending the built-in page",
                    TEMPLATE_NAME,
                    exc.__class__.__name__,
                    str(exc)[:200],
                )
            return reply
        replaced = [
            (name, str(len(body)) if name == "Content-Length" else value)
            for name, value in reply.headers
        ]
        return Reply(reply.status, replaced, body)
