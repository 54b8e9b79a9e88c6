"""One Flask view, in the variant named by ``BENCH_VARIANT``.

The middleware goes on ``app.wsgi_app``, the documented Flask idiom, so Flask's own
``__call__`` still runs first. Served by gunicorn:
``gunicorn benchmarks.apps.flask_hello:app``.
"""

from __future__ import annotations

from flask import Flask, Response

from benchmarks.apps.variants import hello_body, wrap_wsgi

app = Flask(__name__)


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def hello(path: str) -> Response:
    return Response(hello_body(), mimetype="text/plain")


app.wsgi_app = wrap_wsgi(app.wsgi_app)  # type: ignore[method-assign, assignment]
