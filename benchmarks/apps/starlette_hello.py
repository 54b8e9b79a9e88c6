"""One Starlette route, in the variant named by ``BENCH_VARIANT``.

The middleware is added the documented way (``Middleware(...)`` in the app's stack,
equivalent to ``app.add_middleware``). Served by uvicorn:
``uvicorn benchmarks.apps.starlette_hello:app``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks.apps.variants import asgi_middleware, hello_body


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(hello_body())


_middleware = asgi_middleware()
app = Starlette(
    routes=[Route("/", hello), Route("/{path:path}", hello)],
    middleware=[] if _middleware is None else [Middleware(_middleware)],
)
