"""The ASGI and WSGI types the adapters share, in one place (as uvicorn's ``_types.py``).

ASGI's are spelled as loosely as the spec allows (mappings of ``str`` to anything), so
any server's or framework's callables fit. WSGI's come from typeshed and exist only for
the type checker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "StartResponse",
    "WSGIApplication",
    "WSGIEnvironment",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
