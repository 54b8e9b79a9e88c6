"""GatekeeperMiddleware under Django's sync test Client, against a real redis-server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.test import Client, RequestFactory, override_settings

from gatekeeper.contrib.django import GatekeeperMiddleware
from gatekeeper.contrib.django.pages import TEMPLATE_NAME
from gatekeeper.core.decision import Reason
from gatekeeper.core.modes import Mode
from gatekeeper.core.responses import unavailable
from gatekeeper.middleware.wsgi import CLOSE_FLAG
from gatekeeper.state.keys import Keys
from tests.contrib.django_support import current_watcher, gate_settings
from tests.support.helpers import set_state, wait_for

MESSAGE = "Back soon <b>really</b> & truly"


@pytest.fixture
def gated(redis_url: str, prefix: str) -> Iterator[None]:
    with gate_settings(redis_url, prefix):
        yield


def wait_mode(mode: Mode) -> None:
    watcher = current_watcher()
    watcher.wait_ready()
    wait_for(lambda: watcher.snapshot and watcher.snapshot.mode is mode, what=f"mode {mode}")


def core_page(accept: str | None = None, method: str = "GET") -> bytes:
    snapshot = current_watcher().snapshot
    assert snapshot is not None
    options = current_watcher().options
    reply = unavailable(
        snapshot, reason=Reason.MAINTENANCE, options=options, method=method, path="/", accept=accept
    )
    return reply.body


def test_open_gate_passes_and_counts_reads_and_writes(gated: None) -> None:
    client = Client()
    read = client.get("/probe/").json()
    write = client.post("/probe/").json()
    assert (read["inflight"], read["writes"]) == (1, 0)
    assert (write["inflight"], write["writes"]) == (1, 1)
    assert current_watcher().counters.inflight == 0


def test_held_request_released_by_del_and_publish(gated: None, r: redis.Redis, keys: Keys) -> None:
    Client().get("/probe/")  # the watcher has read the state once
    set_state(r, keys, "hold")
    wait_mode(Mode.HOLD)
    with ThreadPoolExecutor(2) as pool:
        future = pool.submit(Client().post, "/probe/")
        wait_for(lambda: current_watcher().counters.held == 1, what="one held request")
        assert not future.done()
        assert Client().get("/healthz").status_code == 200  # health checks pass meanwhile
        set_state(r, keys, None)
        response = future.result(timeout=5)
    assert response.status_code == 200
    assert response.json() == {"inflight": 1, "writes": 1, "method": "POST"}
    assert current_watcher().counters.released_total == 1


def test_exempt_request_is_not_counted_in_flight(gated: None, r: redis.Redis, keys: Keys) -> None:
    set_state(r, keys, "hold")
    wait_mode(Mode.HOLD)
    assert Client().get("/healthz/probe").json()["inflight"] == 0


def test_maintenance_renders_the_django_template(gated: None, r: redis.Redis, keys: Keys) -> None:
    set_state(r, keys, "maintenance", message=MESSAGE, retry_after=7)
    wait_mode(Mode.MAINTENANCE)
    response = Client().get("/")
    assert response.status_code == 503
    body = response.content
    context = {"title": "Down for maintenance", "message": MESSAGE, "retry_after": 7}
    assert body == render_to_string(TEMPLATE_NAME, {**context, "reason": "maintenance"}).encode()
    assert b"Back soon &lt;b&gt;really&lt;/b&gt; &amp; truly" in body
    assert b'<meta http-equiv="refresh" content="7">' in body
    assert response["Retry-After"] == "7"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Gatekeeper"] == "maintenance"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Length"] == str(len(body))
    # The same page as the core's, but for whitespace.
    assert body.split() == core_page().split()


def test_json_and_head_answers_stay_the_cores(gated: None, r: redis.Redis, keys: Keys) -> None:
    set_state(r, keys, "maintenance", message=MESSAGE)
    wait_mode(Mode.MAINTENANCE)
    api = Client().get("/notes/", HTTP_ACCEPT="application/json")
    head = Client().head("/")
    assert api.status_code == head.status_code == 503
    assert json.loads(api.content)["message"] == MESSAGE
    assert api.content == core_page(accept="application/json")
    assert head.content == b""
    assert head["Content-Length"] == str(len(core_page()))


def test_project_template_overrides_the_default(
    gated: None, r: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    (tmp_path / "gatekeeper").mkdir()
    (tmp_path / "gatekeeper" / "maintenance.html").write_text(
        '{% extends "gatekeeper/maintenance.html" %}'
        "{% block content %}<h1>Custom</h1><p>{{ message }}</p>{% endblock %}"
    )
    set_state(r, keys, "maintenance", message=MESSAGE)
    wait_mode(Mode.MAINTENANCE)
    with override_settings(TEMPLATES=templates_in(tmp_path)):
        response = Client().get("/")
    assert response.status_code == 503
    assert b"<h1>Custom</h1><p>Back soon &lt;b&gt;really" in response.content
    assert b'http-equiv="refresh"' in response.content  # kept from the default it extends


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("{% url 'no-such-view' %}", id="render-error"),
        pytest.param("{% if %}", id="syntax-error"),
    ],
)
def test_broken_template_falls_back_to_the_core_page(
    gated: None, r: redis.Redis, keys: Keys, tmp_path: Path, source: str
) -> None:
    (tmp_path / "gatekeeper").mkdir()
    (tmp_path / "gatekeeper" / "maintenance.html").write_text(source)
    set_state(r, keys, "maintenance", message=MESSAGE)
    wait_mode(Mode.MAINTENANCE)
    with override_settings(TEMPLATES=templates_in(tmp_path)):
        response = Client().get("/")
    assert response.status_code == 503
    assert response.content == core_page()


def test_without_the_app_the_core_page_is_sent(gated: None, r: redis.Redis, keys: Keys) -> None:
    set_state(r, keys, "maintenance")
    wait_mode(Mode.MAINTENANCE)
    with override_settings(INSTALLED_APPS=[]):
        response = Client().get("/")
    assert response.status_code == 503
    assert response.content == core_page()


def test_nothing_from_the_request_is_reflected(gated: None, r: redis.Redis, keys: Keys) -> None:
    set_state(r, keys, "maintenance")
    wait_mode(Mode.MAINTENANCE)
    response = Client().get(
        "/<script>path</script>", {"q": "<img src=x>"}, HTTP_REFERER="<script>ref</script>"
    )
    assert response.status_code == 503
    assert b"script" not in response.content
    assert b"<img" not in response.content


def test_streamed_response_counts_until_closed(gated: None) -> None:
    response: Any = Client().get("/stream/")
    assert current_watcher().counters.inflight == 1
    assert b"".join(response.streaming_content) == b"first second"
    assert current_watcher().counters.inflight == 0


def test_exception_from_the_view_leaves_the_count(gated: None) -> None:
    def boom(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("view failed")

    middleware = GatekeeperMiddleware(boom)
    with pytest.raises(RuntimeError):
        middleware(RequestFactory().post("/probe/"))
    counters = current_watcher().counters
    assert (counters.inflight, counters.inflight_writes) == (0, 0)


def test_bypass_visit_sets_the_cookie_through_django(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    secret = "staff-secret-0123456789"
    with gate_settings(redis_url, prefix, GATEKEEPER_BYPASS_SECRET=secret):
        set_state(r, keys, "maintenance")
        wait_mode(Mode.MAINTENANCE)
        client = Client()
        granted = client.get(f"/__gatekeeper__/bypass/{secret}", secure=True)
        # The header is passed through as the core wrote it; the test client only keeps
        # cookies set through response.cookies, so hand it over as a browser would.
        client.cookies.load(granted["Set-Cookie"])
        passed = client.get("/probe/", secure=True)
    assert granted.status_code == 303
    assert granted["Location"] == "/"
    assert "HttpOnly" in granted["Set-Cookie"]
    assert "Secure" in granted["Set-Cookie"]
    assert passed.status_code == 200


def test_explicit_gatekeeper_template_wins_over_the_django_one(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>plain $message</p>")
    with gate_settings(redis_url, prefix, GATEKEEPER_TEMPLATE=str(page)):
        set_state(r, keys, "maintenance", message="hi")
        wait_mode(Mode.MAINTENANCE)
        response = Client().get("/")
    assert response.content == b"<p>plain hi</p>"


def templates_in(directory: Path) -> list[dict[str, object]]:
    return [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(directory)],
            "APP_DIRS": True,
        }
    ]


def test_handoff_in_old_release_answers_307_and_closes(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    # Before the fix the middleware's fast path tested the mode only: with the state open
    # under a handoff, the old release ran the request (200) instead of redirecting it.
    with gate_settings(redis_url, prefix, GATEKEEPER_RELEASE="v1"):
        Client().get("/probe/")
        r.set(keys.handoff, "v2", ex=30)
        r.publish(keys.events, "handoff")
        watcher = current_watcher()
        wait_for(lambda: watcher.snapshot is not None and watcher.snapshot.handoff)
        response = Client().post("/probe/?a=1", data=b'{"x": 1}', content_type="text/plain")
        assert response.status_code == 307
        assert response["Location"] == "/probe/?a=1"
        assert response["Retry-After"] == "0"
        assert response.wsgi_request.META[CLOSE_FLAG] is True
        assert Client().get("/healthz").status_code == 200  # health checks still pass
        assert watcher.counters.handed_off_total == 1


def test_keepalive_off_marks_requests_to_close_under_django(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    with gate_settings(redis_url, prefix, GATEKEEPER_DRAIN_HEALTH=True):
        Client().get("/probe/")
        r.set(keys.keepalive, "off", ex=30)
        r.publish(keys.events, "keepalive")
        watcher = current_watcher()
        wait_for(lambda: watcher.snapshot is not None and watcher.snapshot.closing)
        response = Client().get("/probe/")
        assert response.status_code == 200
        assert response.wsgi_request.META[CLOSE_FLAG] is True
        assert Client().get("/healthz").status_code == 503  # drain_health under Django too


def test_metrics_path_is_answered_in_maintenance_ahead_of_the_views(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    with gate_settings(
        redis_url, prefix, GATEKEEPER_METRICS="prometheus", GATEKEEPER_METRICS_PATH="/metrics"
    ):
        set_state(r, keys, "maintenance")
        wait_mode(Mode.MAINTENANCE)
        client = Client()
        scrape = client.get("/metrics")
        assert scrape.status_code == 200
        assert b'gatekeeper_state{state="maintenance"} 1.0' in scrape.content
        assert client.post("/metrics").status_code == 405
        assert client.get("/probe/").status_code == 503
