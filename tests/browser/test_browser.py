"""The 503 page and the staff bypass in a real browser: headless Chromium, Playwright.

What only a browser shows: that the maintenance page's ``<meta http-equiv="refresh">``
reloads it by itself and lands on the app once the gate opens, with no click, and what
the bypass cookie looks like from inside the browser. The browser is Debian's
``chromium`` (scripts/test.sh installs it), never one downloaded by ``playwright
install``; the app is the Django example under gunicorn, against the session's Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from gatekeeper.state.keys import Keys
from gatekeeper.testing import RedisServer, free_port
from tests.support.helpers import wait_for
from tests.support.servers import BIN, ROOT, Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # runs as root in CI containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    # Nothing but the test's own requests: no first-run pages, updates or sync traffic.
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
APP_DIR = ROOT / "examples" / "django_app"
SECRET = "browser-test-bypass-0123456789"
MESSAGE = "Back at 10:05 with <faster> notes"
RETRY_AFTER = 2
"""Seconds before the page's meta refresh fires: short, so the test stays quick."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        # Never a skip: in CI a missing browser means the set-up step did not run.
        pytest.fail(
            f"{CHROMIUM} not found: run scripts/test.sh (it installs Debian's chromium) "
            "or apt-get install chromium",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        # launch() gives the browser a fresh temporary user data dir, deleted on close.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(f"gkbrowser{os.getpid()}")


@pytest.fixture(scope="module")
def app(
    redis_server: RedisServer, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The Django example, fully migrated, served by gunicorn with a bypass secret."""
    database = tmp_path_factory.mktemp("browser") / "notes.sqlite3"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "NOTES_SEED_ROWS": "20",
        "GATEKEEPER_REDIS_URL": redis_server.url,
        "GATEKEEPER_PREFIX": keys.prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2",
        "GATEKEEPER_BYPASS_SECRET": SECRET,
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=APP_DIR, env={**clean, **env}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = free_port()
    argv = [
        str(BIN / "gunicorn"), "example_project.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--worker-class", "gthread", "--threads", "8", "--log-level", "warning",
    ]  # fmt: skip
    with Server(argv, port, env, cwd=APP_DIR) as server:
        yield server


@pytest.fixture
def r(redis_server: RedisServer, keys: Keys) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    open_gate(client, keys)  # the next test starts from an open gate
    client.close()


def maintenance(r: redis.Redis, keys: Keys, app: Server) -> None:
    """The operator's maintenance with a message, exactly as the README's redis-cli table
    does it; returns once the app answers 503, so the browser's first load sees it."""
    r.hset(keys.info, mapping={"message": MESSAGE, "retry_after": str(RETRY_AFTER)})
    r.set(keys.state, "maintenance")
    r.publish(keys.events, "x")
    wait_for(lambda: httpx.get(app.url + "/").status_code == 503, what="the 503")


def open_gate(r: redis.Redis, keys: Keys) -> None:
    r.delete(keys.state, keys.info)
    r.publish(keys.events, "x")


def main_frame_responses(page: Page) -> list[int]:
    """Statuses of the page's top-level document loads, recorded as they happen."""
    statuses: list[int] = []

    def record(response: Response) -> None:
        if response.request.is_navigation_request() and response.frame == page.main_frame:
            statuses.append(response.status)

    page.on("response", record)
    return statuses


def test_maintenance_page_reloads_itself_into_the_app(
    app: Server, browser: Browser, r: redis.Redis, keys: Keys
) -> None:
    maintenance(r, keys, app)
    context = browser.new_context()
    page = context.new_page()
    loads = main_frame_responses(page)

    response = page.goto(app.url + "/")
    assert response is not None
    assert response.status == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER)
    expect(page.locator("h1")).to_have_text("Notes is being upgraded")
    # The message as text: escaped by the server, so the browser shows it unharmed.
    expect(page.locator(".message")).to_have_text(MESSAGE)
    assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "2"

    open_gate(r, keys)
    # No goto, reload or click from here on: only the page's own meta refresh can bring
    # the app's content (it fires every RETRY_AFTER seconds while the 503 is shown).
    expect(page.locator("#notes-home h1")).to_have_text("Notes", timeout=4 * RETRY_AFTER * 1000)
    assert page.url == app.url + "/"
    assert loads[0] == 503
    assert loads[-1] == 200
    assert len(loads) >= 2
    context.close()


def test_bypass_visit_lands_on_the_app_with_an_httponly_cookie(
    app: Server, browser: Browser, r: redis.Redis, keys: Keys
) -> None:
    maintenance(r, keys, app)
    context = browser.new_context()
    page = context.new_page()

    response = page.goto(f"{app.url}/__gatekeeper__/bypass/{SECRET}")
    assert response is not None
    assert response.status == 200
    redirect = response.request.redirected_from
    assert redirect is not None
    redirect_response = redirect.response()
    assert redirect_response is not None
    assert redirect_response.status == 303
    assert page.url == app.url + "/"
    expect(page.locator("#notes-home h1")).to_have_text("Notes")

    [cookie] = [c for c in context.cookies() if c["name"] == "gatekeeper_bypass"]
    assert cookie["httpOnly"] is True
    assert SECRET not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it

    # The cookie, not a change of state, let this browser in: another one is still held off.
    stranger = browser.new_context()
    assert (stranger_response := stranger.new_page().goto(app.url + "/")) is not None
    assert stranger_response.status == 503
    stranger.close()
    # And with the cookie the app stays reachable across loads.
    assert (again := page.reload()) is not None
    assert again.status == 200
    context.close()
