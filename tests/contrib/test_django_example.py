"""The Django example project served by real gunicorn and uvicorn, driven over HTTP."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import free_port
from tests.contrib.django_support import APP_DIR, example_database_parser
from tests.support.helpers import set_state, wait_for
from tests.support.servers import BIN, Server

SEED = 300


@pytest.fixture
def env(redis_url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'notes.sqlite3'}",
        "NOTES_SEED_ROWS": str(SEED),
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2",
        "GATEKEEPER_HOLD_TIMEOUT": "20",
    }


def manage(env: dict[str, str], *args: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP_DIR, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def example_server(kind: str, env: dict[str, str]) -> Server:
    port = free_port()
    if kind == "gunicorn":
        argv = [
            str(BIN / "gunicorn"), "example_project.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--worker-class", "gthread", "--threads", "8", "--log-level", "warning",
        ]  # fmt: skip
    else:
        argv = [
            str(BIN / "uvicorn"), "example_project.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
    return Server(argv, port, env, cwd=APP_DIR)


@pytest.fixture
def gunicorn_app(env: dict[str, str]) -> Iterator[Server]:
    manage(env, "migrate", "notes", "0001")  # all but the last migration: a deploy pending
    with example_server("gunicorn", env) as server:
        yield server


def uncounted(database: Path) -> int:
    """Notes whose ``words`` is not their word count (0 until migration 0002 counts them)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT text, words FROM notes_note").fetchall()
    return sum(1 for text, words in rows if words != len(text.split()))


def held(r: redis.Redis, keys: Keys) -> int:
    return sum(int(report.get("held", 0)) for report in read_processes(r, keys))


def hold_everywhere(r: redis.Redis, keys: Keys) -> None:
    """Set ``hold`` and wait until the (one) served process reports it: a request sent
    before its watcher heard the PUBLISH would still pass."""
    set_state(r, keys, "hold")
    wait_for(
        lambda: [report.get("mode") for report in read_processes(r, keys)] == ["hold"],
        what="the process to report hold",
    )


def test_gunicorn_holds_writes_through_the_migration(
    gunicorn_app: Server, env: dict[str, str], r: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    database = tmp_path / "notes.sqlite3"
    assert uncounted(database) == SEED  # the seeded notes: migration 0002 counts them
    with httpx.Client(base_url=gunicorn_app.url, timeout=30) as client:
        assert client.get("/healthz").json() == {"ok": True}
        assert client.get("/notes/").json() == {"count": SEED}
        assert "Notes" in client.get("/").text
        # Before the migration the code writes already, word count included.
        before = client.post("/notes/", json={"text": "written before the deploy"})
        assert (before.status_code, before.json()["words"]) == (201, 4)
        hold_everywhere(r, keys)
        with ThreadPoolExecutor(4) as pool:
            posts = [
                pool.submit(client.post, "/notes/", json={"text": f"written during deploy {i}"})
                for i in range(4)
            ]
            wait_for(lambda: held(r, keys) == 4, 10, what="four held POSTs")
            assert client.get("/healthz").status_code == 200
            # Holds SQLite's write lock while it backfills: the held POSTs wait outside.
            manage(env, "migrate")
            assert not any(post.done() for post in posts)
            set_state(r, keys, None)
            created = [post.result(timeout=10) for post in posts]
        assert [response.status_code for response in created] == [201] * 4
        assert all(response.json()["words"] == 4 for response in created)
        after = client.post("/notes/", json={"text": "written after the deploy"})
        assert (after.status_code, after.json()["words"]) == (201, 4)
        assert client.get("/notes/").json() == {"count": SEED + 6}
    assert uncounted(database) == 0


def test_gunicorn_maintenance_page_is_the_projects_template(
    gunicorn_app: Server, r: redis.Redis, keys: Keys
) -> None:
    r.hset(keys.info, mapping={"message": "Upgrading <notes>", "retry_after": "5"})
    set_state(r, keys, "maintenance")
    wait_for(lambda: httpx.get(gunicorn_app.url + "/").status_code == 503, what="the 503")
    page = httpx.get(gunicorn_app.url + "/")
    assert "Notes is being upgraded" in page.text
    assert "Upgrading &lt;notes&gt;" in page.text
    assert page.headers["retry-after"] == "5"
    api = httpx.get(gunicorn_app.url + "/notes/", headers={"Accept": "application/json"})
    assert api.json()["error"] == "service_unavailable"


def test_uvicorn_holds_on_the_event_loop(env: dict[str, str], r: redis.Redis, keys: Keys) -> None:
    manage(env, "migrate")
    with (
        example_server("uvicorn", env) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert client.get("/notes/").json() == {"count": SEED}
        hold_everywhere(r, keys)
        with ThreadPoolExecutor(2) as pool:
            pages = [pool.submit(client.get, "/") for _ in range(2)]
            wait_for(lambda: held(r, keys) == 2, 10, what="two held requests")
            # One process, one event loop: answered only if holding blocks nothing.
            assert client.get("/healthz", timeout=2).json() == {"ok": True}
            assert not any(page.done() for page in pages)
            set_state(r, keys, None)
            answers = [page.result(timeout=10) for page in pages]
        assert [answer.status_code for answer in answers] == [200, 200]
        assert 'id="notes-home"' in answers[0].text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "sqlite:///db.sqlite3",
            {"ENGINE": "django.db.backends.sqlite3", "NAME": str(APP_DIR / "db.sqlite3")},
            id="sqlite-relative",
        ),
        pytest.param(
            "sqlite:////var/lib/notes.sqlite3",
            {"ENGINE": "django.db.backends.sqlite3", "NAME": "/var/lib/notes.sqlite3"},
            id="sqlite-absolute",
        ),
        pytest.param(
            "postgres://app:p%40ss@db.internal:5433/notes?sslmode=require",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "notes",
                "USER": "app",
                "PASSWORD": "p@ss",
                "HOST": "db.internal",
                "PORT": "5433",
                "OPTIONS": {"sslmode": "require"},
            },
            id="postgres",
        ),
    ],
)
def test_database_url_becomes_django_settings(url: str, expected: dict[str, object]) -> None:
    parsed = example_database_parser()(url, APP_DIR)
    assert {key: parsed[key] for key in expected} == expected


def test_unsupported_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported scheme 'mysql'"):
        example_database_parser()("mysql://x/y", APP_DIR)
