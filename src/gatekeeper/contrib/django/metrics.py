"""``GATEKEEPER_METRICS_PATH`` under Django: the scrape answered behind the gate, ahead of
the rest of ``MIDDLEWARE`` and the views (no session, no database), in every state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from gatekeeper.observe._routes import answer_scrape

__all__ = ["metrics_route"]


def _response(request: HttpRequest) -> HttpResponse:
    status, headers, body = answer_scrape(request.method or "GET", request.headers.get("Accept"))
    response = HttpResponse(body, status=int(status.split(" ", 1)[0]))
    for name, value in headers:
        if name != "Content-Length":
            response[name] = value
    return response


def metrics_route(get_response: Any, path: str, async_mode: bool) -> Any:
    """``get_response``, answering ``path`` itself."""
    if async_mode:
        inner_async: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = get_response

        async def route_async(request: HttpRequest) -> HttpResponseBase:
            if request.path_info == path:
                return _response(request)
            return await inner_async(request)

        return route_async
    inner: Callable[[HttpRequest], HttpResponseBase] = get_response

    def route(request: HttpRequest) -> HttpResponseBase:
        if request.path_info == path:
            return _response(request)
        return inner(request)

    return route
