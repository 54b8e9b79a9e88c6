"""Apps the benchmark servers load, each in three variants chosen by ``BENCH_VARIANT``.

- ``bare``: the app alone;
- ``gate``: wrapped in ``gatekeeper.WSGIMiddleware`` / ``ASGIMiddleware``, configured
  from ``GATEKEEPER_*`` environment variables exactly as a user would;
- ``naive``: wrapped in a middleware that GETs ``<prefix>:state`` from Redis on every
  request (redis-py sync for WSGI, ``redis.asyncio`` for ASGI), the design the gate
  avoids.

Every app answers ``hello from <pid>`` on every path, so the release benchmark can tell
which worker process answered. The floor apps (``floor_asgi``, ``floor_wsgi``) hold every
request except ``/healthz`` on a bare event released by a bare ``PUBLISH``.

Modules:
    wsgi_hello       plain WSGI callable (gunicorn)
    flask_hello      one Flask view, middleware on ``app.wsgi_app`` (gunicorn)
    django_hello     one Django view, settings configured inline (gunicorn)
    asgi_hello       plain ASGI callable (uvicorn)
    starlette_hello  one Starlette route, middleware via ``Middleware(...)`` (uvicorn)
    floor_asgi       asyncio.Event floor (uvicorn)
    floor_wsgi       threading.Event floor (gunicorn gthread)
"""
