"""A plain WSGI hello app, in the variant named by ``BENCH_VARIANT``.

Served by gunicorn: ``gunicorn benchmarks.apps.wsgi_hello:app``. The body names the
worker's pid, which the release benchmark reads to tell processes apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.apps.variants import hello_body, wrap_wsgi


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = hello_body()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = wrap_wsgi(hello)
