"""The Flask extension: where options come from, bad values, and the gate under Flask's
test client against a real redis-server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from gatekeeper import OptionError, WSGIMiddleware
from gatekeeper.contrib.flask import Gatekeeper, GatekeeperState, state_for
from gatekeeper.state.keys import Keys
from tests.support.helpers import set_state, wait_for


def make_app(**config: Any) -> Flask:
    app = Flask("gated")
    app.config.update(config)
    app.extensions["calls"] = []

    @app.get("/")
    def index() -> str:
        app.extensions["calls"].append("GET /")
        return "flask says hi"

    @app.post("/notes")
    def create() -> tuple[dict[str, bool], int]:
        app.extensions["calls"].append("POST /notes")
        return {"created": True}, 201

    return app


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The precedence tests set GATEKEEPER_* variables; none may leak in from outside.
    for name in ("GATEKEEPER_HOLD_TIMEOUT", "GATEKEEPER_RETRY_AFTER", "GATEKEEPER_PREFIX"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gated(redis_url: str, prefix: str) -> Iterator[Callable[..., Flask]]:
    """Flask apps gated on this test's Redis and prefix; their watchers stop after."""
    apps: list[Flask] = []

    def factory(**options: Any) -> Flask:
        app = make_app(GATEKEEPER_REDIS_URL=redis_url, GATEKEEPER_PREFIX=prefix)
        Gatekeeper(app, **options)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        state_for(app).gate.watcher.close()


# -- configuration ---------------------------------------------------------------------


def test_config_key_used_when_no_keyword_given() -> None:
    app = make_app(GATEKEEPER_HOLD_TIMEOUT=3, GATEKEEPER_EXEMPT_PATHS=["/static/"])
    state = Gatekeeper().init_app(app)
    assert state.options.hold_timeout == 3.0
    assert state.options.exempt_paths == ("/static/",)


def test_config_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_HOLD_TIMEOUT", "7")
    monkeypatch.setenv("GATEKEEPER_RETRY_AFTER", "30")
    app = make_app(GATEKEEPER_HOLD_TIMEOUT="3")
    Gatekeeper(app)
    assert state_for(app).options.hold_timeout == 3.0
    assert state_for(app).options.retry_after == 30  # not in the config: from the env


def test_config_none_falls_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_HOLD_TIMEOUT", "7")
    app = make_app(GATEKEEPER_HOLD_TIMEOUT=None)
    Gatekeeper(app)
    assert state_for(app).options.hold_timeout == 7.0


def test_keyword_wins_over_config_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_HOLD_TIMEOUT", "7")
    app = make_app(GATEKEEPER_HOLD_TIMEOUT=3)
    Gatekeeper(app, hold_timeout=2)
    assert state_for(app).options.hold_timeout == 2.0


def test_defaults_apply_when_nothing_is_set() -> None:
    app = make_app()
    Gatekeeper(app)
    assert state_for(app).options.hold_timeout == 15.0
    assert state_for(app).options.prefix == "gatekeeper"


def test_bad_config_value_raises_option_error_naming_the_key() -> None:
    app = make_app(GATEKEEPER_HOLD_TIMEOUT="soon")
    original = app.wsgi_app
    with pytest.raises(OptionError, match="GATEKEEPER_HOLD_TIMEOUT") as caught:
        Gatekeeper().init_app(app)
    assert caught.value.option == "hold_timeout"
    # Nothing half-done: the app is neither wrapped nor registered.
    assert app.wsgi_app == original
    assert "gatekeeper" not in app.extensions


def test_bad_environment_value_raises_at_init_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_RETRY_AFTER", "-1")
    extension = Gatekeeper()
    with pytest.raises(OptionError, match="GATEKEEPER_RETRY_AFTER"):
        extension.init_app(make_app())


def test_unknown_keyword_raises_with_suggestion() -> None:
    with pytest.raises(OptionError, match="did you mean hold_timeout"):
        Gatekeeper(make_app(), hold_timout=3)


def test_init_app_wraps_wsgi_app_and_registers_state_and_cli() -> None:
    app = make_app()
    original = app.wsgi_app
    extension = Gatekeeper()
    state = extension.init_app(app)
    assert isinstance(app.wsgi_app, WSGIMiddleware)
    assert app.wsgi_app.app == original
    assert app.extensions["gatekeeper"] is state
    assert isinstance(state, GatekeeperState)
    assert state.extension is extension
    assert "gatekeeper" in app.cli.commands


def test_one_extension_gates_several_apps_each_with_its_own_config() -> None:
    extension = Gatekeeper(retry_after=20)
    first, second = make_app(GATEKEEPER_PREFIX="one"), make_app(GATEKEEPER_PREFIX="two")
    extension.init_app(first)
    extension.init_app(second)
    assert state_for(first).options.prefix == "one"
    assert state_for(second).options.prefix == "two"
    assert state_for(first).options.retry_after == state_for(second).options.retry_after == 20


def test_init_app_twice_raises() -> None:
    app = make_app()
    extension = Gatekeeper(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        extension.init_app(app)


def test_state_for_uninitialised_app_raises() -> None:
    with pytest.raises(RuntimeError, match="not initialised"):
        state_for(make_app())


# -- the gate under Flask's test client -------------------------------------------------


def test_open_state_passes_request_to_flask(gated: Callable[..., Flask]) -> None:
    app = gated()
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert response.data == b"flask says hi"
    assert app.extensions["calls"] == ["GET /"]


def test_maintenance_answers_503_html_and_json_without_reaching_flask(
    gated: Callable[..., Flask], r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "maintenance", message="Back at <b>two</b>", retry_after="12")
    app = gated()
    client = app.test_client()
    html = client.get("/", headers={"Accept": "text/html"})
    assert html.status_code == 503
    assert html.headers["Retry-After"] == "12"
    assert html.mimetype == "text/html"
    assert b"Back at &lt;b&gt;two&lt;/b&gt;" in html.data
    api = client.post("/notes", headers={"Accept": "application/json"}, json={})
    assert api.status_code == 503
    assert api.json == {
        "error": "service_unavailable",
        "reason": "maintenance",
        "message": "Back at <b>two</b>",
        "retry_after": 12,
    }
    assert client.get("/healthz").status_code == 404  # passed through: Flask has no route
    assert app.extensions["calls"] == []


def test_held_request_is_released_by_del_and_publish(
    gated: Callable[..., Flask], r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "hold")
    app = gated(hold_timeout=10)
    gate = state_for(app).gate
    results: list[int] = []
    worker = threading.Thread(
        target=lambda: results.append(app.test_client().post("/notes", json={}).status_code)
    )
    worker.start()
    wait_for(lambda: gate.watcher.counters.held == 1, what="the request to be held")
    assert app.extensions["calls"] == []
    set_state(r, keys, None)
    worker.join(5)
    assert results == [201]
    assert app.extensions["calls"] == ["POST /notes"]
    assert gate.watcher.counters.released_total == 1
