"""Every integration on a minimal install: a fresh venv with only the wheel, the
integration's extra and its server, serving real HTTP under the real server.

The dev venv holds every extra at once, which hides an integration that imports
something its extra does not install (as ``flask gatekeeper`` once imported Alembic).
Each venv here is made by ``python -m venv`` and ``pip install 'wheel[extra]' server``
(see ``venvs.py``); the apps live in ``apps/`` (Flask-Migrate: ``examples/flask_app``).
The test itself runs in the dev venv, against a real redis-server, with its own prefix.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.install.venvs import (
    APPS,
    COMMAND_TIMEOUT,
    DISTRIBUTION,
    INTEGRATIONS,
    InstallStep,
    Venv,
    run,
)
from tests.support.helpers import set_state, wait_for

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src" / "gatekeeper"

TEST_ONLY = frozenset(
    {
        "pytest", "pytest-asyncio", "anyio", "hypothesis", "trustme", "httpx", "mypy", "ruff",
        "django-stubs", "playwright", "py-spy", "alembic", "flask-migrate",
        "flask-sqlalchemy", "sqlalchemy", "django", "flask", "fastapi", "starlette",
        "gunicorn", "uvicorn", "psycopg", "psycopg-binary", "hypercorn", "trio", "granian",
        "waitress", "prometheus-client", "opentelemetry-api", "opentelemetry-sdk", "rich",
    }
)  # fmt: skip
"""Packages of the test extra (and of the other integrations): none may be in a venv
unless its integration asked for it."""
CORE = frozenset({"redis", "asgiref", "werkzeug"})
MISSING_ALEMBIC = (
    "gatekeeper: error: the pending check needs Alembic: "
    "pip install 'gatekeeper-deploy[flask-migrate]'"
)


def gate_env(venv: Venv, redis_url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    return venv.env(
        GATEKEEPER_REDIS_URL=redis_url,
        GATEKEEPER_PREFIX=prefix,
        GATEKEEPER_POLL_INTERVAL="0.2",
        GATEKEEPER_HOLD_TIMEOUT="30",
        DATABASE_URL=f"sqlite:///{tmp_path / 'notes.db'}",
    )


def gatekeeper(
    venv: Venv, env: dict[str, str], redis_url: str, prefix: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """The venv's own ``gatekeeper`` command."""
    return venv.run("gatekeeper", "--redis-url", redis_url, "--prefix", prefix, *args, env=env)


def answered(client: httpx.Client, status: int) -> httpx.Response | None:
    response = client.get("/")
    return response if response.status_code == status else None


@pytest.mark.parametrize("venv", list(INTEGRATIONS), indirect=True)
def test_minimal_install_under_its_server_serves_rejects_and_holds_until_open(
    venv: Venv, redis_url: str, prefix: str, keys: Keys, r: redis.Redis, tmp_path: Path
) -> None:
    integration = venv.integration
    env = gate_env(venv, redis_url, prefix, tmp_path)
    for command in integration.prepare:
        assert venv.run(*command, env=env).returncode == 0
    with venv.server(env) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        # open, set with the venv's CLI
        assert gatekeeper(venv, env, redis_url, prefix, "open").returncode == 0
        opened = client.get("/")
        assert opened.status_code == 200, server.output()
        assert integration.greeting in opened.text

        # maintenance: the 503 with Retry-After
        assert (
            gatekeeper(
                venv, env, redis_url, prefix, "maintenance", "--retry-after", "17", "--ttl", "120"
            ).returncode
            == 0
        )
        rejected = wait_for(lambda: answered(client, 503), timeout=10, what="the 503")
        assert rejected.headers["Retry-After"] == "17"
        assert rejected.headers["X-Gatekeeper"] == "maintenance"
        assert client.get("/healthz").status_code == 200  # health passes the gate

        # hold: a request waits inside the gate until the state is open again. Confirmed
        # in the process's own reports: first that it applied the hold, then that it
        # counts the request as held (reports are written every poll_interval, 0.2 s).
        assert gatekeeper(venv, env, redis_url, prefix, "hold", "--ttl", "120").returncode == 0
        wait_for(
            lambda: [p for p in read_processes(r, keys) if p.get("mode") == "hold"],
            timeout=10,
            what="the server process to report the hold",
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(httpx.get, server.url + "/", timeout=30)
            wait_for(
                lambda: any(p.get("held", 0) >= 1 for p in read_processes(r, keys)),
                timeout=10,
                what="the request to be counted as held",
            )
            assert not pending.done()
            set_state(r, keys, None)  # open, as redis-cli would: DEL + PUBLISH
            released = pending.result(timeout=15)
        assert released.status_code == 200
        assert integration.greeting in released.text


@pytest.mark.parametrize("venv", list(INTEGRATIONS), indirect=True)
def test_minimal_install_holds_only_what_its_extra_and_server_require(venv: Venv) -> None:
    installed = venv.installed()
    # Nothing besides the requested requirements and what they require.
    assert installed == venv.closure()
    assert (TEST_ONLY - venv.closure()) & installed == set()
    pip = [*venv.pip, "--disable-pip-version-check"]
    check = run([*pip, "check"], timeout=COMMAND_TIMEOUT, env=venv.env())
    assert check.returncode == 0, check.stdout
    freeze = run([*pip, "freeze", "--all"], timeout=COMMAND_TIMEOUT, env=venv.env())
    assert freeze.returncode == 0, freeze.stderr
    frozen = {
        canonicalize_name(re.split(r"==| @ ", line)[0]) for line in freeze.stdout.splitlines()
    }
    assert frozen == installed


@pytest.mark.parametrize("venv", ["wsgi"], indirect=True)
def test_wheel_alone_requires_only_redis_asgiref_werkzeug(venv: Venv) -> None:
    requirements = [Requirement(text) for text in venv.distributions[DISTRIBUTION].requires or []]
    unconditional = {
        canonicalize_name(req.name)
        for req in requirements
        if req.marker is None or req.marker.evaluate({"extra": ""})
    }
    assert unconditional == CORE
    extras = venv.distributions[DISTRIBUTION].metadata.get_all("Provides-Extra") or []
    assert {
        "django",
        "flask",
        "flask-migrate",
        "fastapi",
        "starlette",
        "prometheus",
        "otel",
        "test",
    } <= set(extras)


@pytest.mark.parametrize("venv", ["wsgi"], indirect=True)
def test_core_imports_and_cli_load_no_package_beyond_the_core(
    venv: Venv, redis_url: str, prefix: str
) -> None:
    # Import everything the middleware and the CLI use, then name the distributions of
    # every module that loaded (not those of the interpreter's start-up, such as
    # setuptools' .pth hook): only gatekeeper's own and its core dependencies.
    script = (
        "import sys\n"
        "startup = set(sys.modules)\n"
        "import gatekeeper, gatekeeper.cli, gatekeeper.runner.migration\n"
        "gatekeeper.WSGIMiddleware, gatekeeper.ASGIMiddleware, gatekeeper.Gate\n"
        "loaded = set(sys.modules) - startup\n"
        "import importlib.metadata as md\n"
        "owners = md.packages_distributions()\n"
        "names = {d for m in loaded for d in owners.get(m.split('.')[0], [])}\n"
        "print(' '.join(sorted(n.lower() for n in names)))\n"
    )
    loaded = venv.run("python", "-c", script, env=venv.env())
    assert loaded.returncode == 0, loaded.stderr
    distributions = set(loaded.stdout.split())
    assert distributions <= {DISTRIBUTION, *CORE, "markupsafe"}
    assert {DISTRIBUTION, "redis", "werkzeug"} <= distributions  # the check sees imports

    status = venv.run(
        "gatekeeper", "--redis-url", redis_url, "--prefix", prefix, "status", env=venv.env()
    )
    assert status.returncode == 0, status.stderr
    assert "state:" in status.stdout


@pytest.mark.parametrize("venv", ["prometheus"], indirect=True)
def test_prometheus_install_serves_its_scrape_while_a_request_is_held(
    venv: Venv, redis_url: str, prefix: str, keys: Keys, r: redis.Redis, tmp_path: Path
) -> None:
    env = gate_env(venv, redis_url, prefix, tmp_path)
    with venv.server(env) as server, ThreadPoolExecutor(max_workers=1) as pool:
        set_state(r, keys, "hold")
        wait_for(
            lambda: [p for p in read_processes(r, keys) if p.get("mode") == "hold"],
            timeout=10, what="the server process to report the hold",
        )  # fmt: skip
        pending = pool.submit(httpx.get, server.url + "/", timeout=30)

        def scraped() -> str:
            text = httpx.get(server.url + "/metrics", timeout=5).text
            return text if "gatekeeper_requests_held 1.0" in text else ""

        scrape = wait_for(scraped, timeout=10, what="the scrape to count the held request")
        assert 'gatekeeper_state{state="hold"} 1.0' in scrape
        set_state(r, keys, None)
        assert pending.result(timeout=15).status_code == 200


@pytest.mark.parametrize("venv", ["wsgi"], indirect=True)
@pytest.mark.parametrize(
    ("backend", "needs"),
    [("prometheus", "gatekeeper-deploy[prometheus]"), ("otel", "opentelemetry-api")],
)
def test_metrics_without_their_library_fail_at_construction_naming_the_install(
    venv: Venv, backend: str, needs: str
) -> None:
    script = "import gatekeeper\ngatekeeper.Gate()\n"
    failed = venv.run("python", "-c", script, env=venv.env(GATEKEEPER_METRICS=backend))
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.endswith(f"pip install '{needs}'"), failed.stderr
    assert "GATEKEEPER_METRICS" in last


@pytest.mark.parametrize("venv", ["wsgi"], indirect=True)
def test_core_install_watch_once_prints_plain_lines_without_rich(
    venv: Venv, redis_url: str, prefix: str
) -> None:
    # rich is the `watch` extra: without it, `gatekeeper watch` still works, in plain lines.
    missing = venv.run("python", "-c", "import rich", env=venv.env())
    assert missing.returncode == 1
    assert "No module named 'rich'" in missing.stderr
    watch = venv.run(
        "gatekeeper", "--redis-url", redis_url, "--prefix", prefix, "watch", "--once",
        env=venv.env(),
    )  # fmt: skip
    assert watch.returncode == 0, watch.stderr
    assert watch.stdout.startswith("--- ")
    assert f"prefix {prefix}" in watch.stdout
    assert "state:" in watch.stdout


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("gatekeeper.contrib.flask", "flask"),
        ("gatekeeper.contrib.flask.cli", "flask"),
        ("gatekeeper.contrib.django", "django"),
        ("gatekeeper.contrib.django.apps", "django"),
    ],
)
@pytest.mark.parametrize("venv", ["wsgi"], indirect=True)
def test_contrib_import_without_its_framework_raises_import_error_naming_the_extra(
    venv: Venv, module: str, extra: str
) -> None:
    script = (
        f"try:\n    import {module}\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
        "else:\n    print('imported')\n"
    )
    result = venv.run("python", "-c", script, env=venv.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ImportError ")
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in result.stdout


@pytest.mark.parametrize("venv", ["flask"], indirect=True)
def test_flask_without_flask_migrate_cannot_import_alembic(venv: Venv) -> None:
    result = venv.run("python", "-c", "import alembic", env=venv.env())
    assert result.returncode == 1
    assert "No module named 'alembic'" in result.stderr


@pytest.mark.parametrize("venv", ["flask"], indirect=True)
def test_flask_without_alembic_status_command_reports_the_state(
    venv: Venv, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = gate_env(venv, redis_url, prefix, tmp_path)
    result = venv.run("flask", "--app", "flask_site", "gatekeeper", "status", env=env, cwd=APPS)
    assert result.returncode == 0, result.stderr
    assert f"prefix {prefix}" in result.stdout
    assert "state:" in result.stdout


@pytest.mark.parametrize("venv", ["flask"], indirect=True)
def test_flask_without_alembic_pending_prints_one_line_and_exits_2(
    venv: Venv, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = gate_env(venv, redis_url, prefix, tmp_path)
    result = venv.run("flask", "--app", "flask_site", "gatekeeper", "pending", env=env, cwd=APPS)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [MISSING_ALEMBIC]
    assert result.stdout == ""


@pytest.mark.parametrize("venv", ["flask-migrate"], indirect=True)
def test_flask_migrate_pending_exits_1_before_upgrade_and_0_after(
    venv: Venv, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = gate_env(venv, redis_url, prefix, tmp_path)
    flask = ("flask", "--app", "app:create_app()")
    before = venv.run(*flask, "gatekeeper", "pending", env=env)
    assert before.returncode == 1, before.stderr
    assert "pending migrations" in before.stderr
    assert venv.run(*flask, "db", "upgrade", env=env).returncode == 0
    after = venv.run(*flask, "gatekeeper", "pending", env=env)
    assert after.returncode == 0, after.stderr
    assert "up to date" in after.stderr


@pytest.mark.parametrize("venv", ["django"], indirect=True)
def test_django_install_management_command_reports_the_state(
    venv: Venv, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = gate_env(venv, redis_url, prefix, tmp_path)
    result = venv.run("python", "-m", "django", "gatekeeper", "status", env=env)
    assert result.returncode == 0, result.stderr
    assert f"prefix {prefix}" in result.stdout
    check = venv.run("python", "-m", "django", "check", "--fail-level", "WARNING", env=env)
    assert check.returncode == 0, check.stderr


def test_wheel_holds_the_package_and_no_support_code(install_step: InstallStep) -> None:
    with zipfile.ZipFile(install_step.wheel) as wheel:
        names = wheel.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"gatekeeper"}
    for part in ("tools/", "tests/", "benchmarks/", "examples/", "loadgen", "openloop"):
        assert not [name for name in names if part in name], part
    for needed in (
        "gatekeeper/py.typed",
        "gatekeeper/core/templates/maintenance.html",
        "gatekeeper/contrib/django/templates/gatekeeper/maintenance.html",
    ):
        assert needed in names
    sources = {Path(name) for name in names if name.endswith(".py")}
    tree = {
        path.relative_to(SRC.parent)
        for path in SRC.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources == tree
