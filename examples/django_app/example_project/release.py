"""``X-Release``: the release that answered, read from a file a deploy rewrites.

Set ``NOTES_RELEASE_FILE`` to a file holding a release name (``v1``): settings.py reads
it once, at import, into ``GATEKEEPER_RELEASE`` (what each process reports to the gate),
and adds :func:`release_header` to the middleware. A server reloaded with SIGHUP keeps
its master's environment, so an environment variable could not tell the new workers
from the old; a deploy that writes ``v2`` into the file before the HUP can. The demo
(examples/demo) deploys that way. Without the variable none of this is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware

__all__ = ["release_header"]


@sync_and_async_middleware
def release_header(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``X-Release: <release>`` on every response the app gives (second in
    ``MIDDLEWARE``: the gate stays first, so its own answers do not carry it)."""
    release = str(settings.GATEKEEPER_RELEASE)

    if iscoroutinefunction(get_response):

        async def middleware_async(request: Any) -> Any:
            response = await get_response(request)
            response["X-Release"] = release
            return response

        return middleware_async

    def middleware(request: Any) -> Any:
        response = get_response(request)
        response["X-Release"] = release
        return response

    return middleware
