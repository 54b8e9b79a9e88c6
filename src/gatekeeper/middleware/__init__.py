"""The request path: the code that runs on every request, in every web process.

``WSGIMiddleware`` and ``ASGIMiddleware`` translate a request into the facts the core
decides on, and ``Gate`` holds what must wait. Nothing here makes a network call: the
state is an attribute kept current by the process's watcher (``gatekeeper.state``), so
the open path costs an attribute read, an ``is OPEN`` test, a count and the call. Nothing
here imports ``gatekeeper.runner`` (checked by ``tests/test_architecture.py``).

Import the middleware from ``gatekeeper``; this package does not re-export it, so that a
WSGI process never imports the ASGI adapter and its dependencies.
"""
