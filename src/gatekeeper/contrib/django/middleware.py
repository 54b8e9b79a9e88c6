"""``GatekeeperMiddleware``: the gate as Django middleware, for WSGI and ASGI alike.

Put it first in ``MIDDLEWARE``, so a held request has run no other middleware (no
session read, no database query) before it is let through or turned away::

    MIDDLEWARE = ["gatekeeper.contrib.django.GatekeeperMiddleware", ...]

It is sync- and async-capable: under WSGI a held request holds its worker thread;
under ASGI it waits on the event loop and blocks nothing. With the gate open a request
costs one attribute read and the in-flight count. Options come from ``GATEKEEPER_*``
settings or environment variables (see :mod:`gatekeeper.contrib.django.conf`); bad
ones raise ``ImproperlyConfigured`` when Django loads the middleware.

Django's ASGI handler (Django 5.0+) cancels a request whose client disconnects, which
ends a hold at once; the request never reaches the view.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from gatekeeper.contrib.django.conf import conf
from gatekeeper.contrib.django.metrics import metrics_route
from gatekeeper.contrib.django.pages import TemplatePages, to_http_response
from gatekeeper.core.decision import HANDOFF, RequestFacts
from gatekeeper.core.modes import SAFE_METHODS
from gatekeeper.middleware.gate import Gate, Outcome
from gatekeeper.middleware.wsgi import CLOSE_FLAG, discard_body, facts_from_environ
from gatekeeper.options import OptionError
from gatekeeper.state.counters import Counters

__all__ = ["APP_NAME", "GatekeeperMiddleware"]

APP_NAME = "gatekeeper.contrib.django"

SyncGetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class GatekeeperMiddleware:
    """Pass, hold or turn away each request according to the shared state."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: SyncGetResponse | AsyncGetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # Tells Django's handler to await this middleware rather than wrap it.
            markcoroutinefunction(self)
        try:
            options = conf.options
        except OptionError as exc:
            raise ImproperlyConfigured(str(exc)) from None
        self.gate = Gate(options)
        self._watcher = self.gate.watcher
        if options.metrics_path is not None:
            self.get_response = metrics_route(get_response, options.metrics_path, self.async_mode)
        self._pages = TemplatePages(options, enabled=apps.is_installed(APP_NAME))

    def __call__(
        self, request: HttpRequest
    ) -> HttpResponseBase | Coroutine[Any, Any, HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        snapshot = self._watcher.snapshot or self._watcher.wait_ready()
        if snapshot.plain:
            return self._call_view(request)
        if snapshot.closing:
            # PEP 3333 forbids a Connection header from the app: the server's hook
            # (gunicorn, waitress) closes on this flag, as under WSGIMiddleware.
            request.META[CLOSE_FLAG] = True
            if self._watcher.recorder is not None:
                self._watcher.recorder.keepalive_closed()
        outcome = self.gate.screen(self._facts(request))
        if outcome.reply is not None:
            if outcome.verdict is HANDOFF:
                request.META[CLOSE_FLAG] = True
                discard_body(request.META)  # unread bytes would make the close a reset
            return self._answer(outcome, request)
        if not outcome.counted:
            return cast(SyncGetResponse, self.get_response)(request)
        return self._call_view(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        snapshot = self._watcher.snapshot or await self._watcher.wait_ready_async()
        if snapshot.plain:
            return await self._call_view_async(request)
        outcome = await self.gate.screen_async(self._facts(request))
        if outcome.reply is not None:
            response = self._answer(outcome, request)
        elif not outcome.counted:
            response = await cast(AsyncGetResponse, self.get_response)(request)
        else:
            response = await self._call_view_async(request)
        latest = self._watcher.snapshot or snapshot
        if latest.closing or outcome.verdict is HANDOFF:
            # Django's ASGI handler passes the header on, and the server ends the
            # connection after this response (a reload, or a handoff's redirect).
            response["Connection"] = "close"
            if latest.closing and self._watcher.recorder is not None:
                self._watcher.recorder.keepalive_closed()
        return response

    # -- in-flight counting, as the WSGI and ASGI middleware do it ----------------------

    def _call_view(self, request: HttpRequest) -> HttpResponseBase:
        counters = self._watcher.counters
        write = _is_write(request)
        counters.enter(write)
        try:
            response = cast(SyncGetResponse, self.get_response)(request)
        except BaseException:
            counters.leave(write)
            raise
        _leave_when_done(response, counters, write)
        return response

    async def _call_view_async(self, request: HttpRequest) -> HttpResponseBase:
        counters = self._watcher.counters
        write = _is_write(request)
        counters.enter(write)
        try:
            response = await cast(AsyncGetResponse, self.get_response)(request)
        except BaseException:  # includes the cancellation of a disconnected request
            counters.leave(write)
            raise
        _leave_when_done(response, counters, write)
        return response

    # -- helpers ------------------------------------------------------------------------

    def _facts(self, request: HttpRequest) -> RequestFacts:
        facts = facts_from_environ(request.META, self.gate.options)
        # META has no wsgi.url_scheme under ASGI, and is_secure() also honours
        # SECURE_PROXY_SSL_HEADER: it decides the bypass cookie's Secure flag.
        if not facts.secure and request.is_secure():
            facts = replace(facts, secure=True)
        return facts

    def _answer(self, outcome: Outcome, request: HttpRequest) -> HttpResponseBase:
        assert outcome.reply is not None
        reply = self._pages.render(outcome.reply, self._watcher.snapshot, request.method or "GET")
        return to_http_response(reply)


def _is_write(request: HttpRequest) -> bool:
    return (request.method or "GET") not in SAFE_METHODS


def _leave_when_done(response: HttpResponseBase, counters: Counters, write: bool) -> None:
    if response.streaming:
        # A streamed body is still work in progress: the request counts as in flight
        # until the server closes the response (WSGI and ASGI handlers both do).
        response._resource_closers.append(  # type: ignore[attr-defined]
            functools.partial(counters.leave, write)
        )
    else:
        counters.leave(write)
