"""Fresh virtualenvs holding only the built wheel, one integration's extra and its server.

The dev venv has every extra installed at once, so it cannot tell whether an integration
works on its own. Here the wheel is built once from a copy of the working tree, then each
:class:`Integration` gets its own ``python -m venv`` (the dev venv's base interpreter)
with ``pip install 'wheel[extra]' server``: nothing else, no test extras, no pip. Everything runs
with a bounded timeout; a failure is an error with pip's output, never a skip.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gatekeeper.testing import free_port
from tests.support.servers import ROOT, Server

APPS = Path(__file__).resolve().parent / "apps"
DISTRIBUTION = "gatekeeper-deploy"
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))
DEV_BIN = Path(sys.executable).parent
PIP_QUIET = ["--disable-pip-version-check", "--no-input", "-q"]

BUILD_TIMEOUT = 300.0
VENV_TIMEOUT = 120.0
INSTALL_TIMEOUT = 600.0
COMMAND_TIMEOUT = 60.0

_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    "*.db", "*.sqlite3", "out",
)  # fmt: skip


class InstallFailed(RuntimeError):
    """Building the wheel or installing a venv failed; the message carries the output."""


@dataclass(frozen=True)
class Integration:
    """One way to use gatekeeper, with exactly what a user would install for it."""

    name: str
    extra: str | None
    """The ``gatekeeper-deploy`` extra, or ``None`` for the bare wheel."""
    others: tuple[str, ...]
    """Further requirements: the server, and what the app itself needs."""
    server: str
    """``gunicorn``, ``uvicorn`` or ``hypercorn-trio`` (``hypercorn -k trio``)."""
    app: str
    """The server's app argument, imported from ``cwd``."""
    greeting: str
    """A piece of the app's ``GET /`` answer."""
    cwd: Path = APPS
    prepare: tuple[tuple[str, ...], ...] = ()
    """Commands (a venv script and its arguments) run before the server starts."""
    env: tuple[tuple[str, str], ...] = ()

    @property
    def roots(self) -> list[str]:
        """What was asked for, as requirement strings (the wheel by its name)."""
        wheel = f"{DISTRIBUTION}[{self.extra}]" if self.extra else DISTRIBUTION
        return [wheel, *self.others]


FLASK_EXAMPLE = ROOT / "examples" / "flask_app"
PLAIN_APPS = ROOT / "tests" / "support" / "apps"
"""The suite's own framework-free apps: they import nothing but gatekeeper and stdlib."""

INTEGRATIONS = {
    integration.name: integration
    for integration in [
        Integration(
            name="django",
            extra="django",
            others=("gunicorn",),
            server="gunicorn",
            app="djsite.wsgi:application",
            greeting="hello from django",
            env=(("DJANGO_SETTINGS_MODULE", "djsite.settings"),),
        ),
        Integration(
            name="flask",
            extra="flask",
            others=("gunicorn",),
            server="gunicorn",
            app="flask_site:app",
            greeting="hello from flask",
        ),
        Integration(
            name="flask-migrate",
            extra="flask-migrate",
            others=("flask-sqlalchemy", "gunicorn"),
            server="gunicorn",
            app="app:create_app()",
            greeting="Notes, served by Flask",
            cwd=FLASK_EXAMPLE,
            prepare=(("flask", "--app", "app:create_app()", "db", "upgrade"),),
            env=(("NOTES_SEED_ROWS", "20"),),
        ),
        Integration(
            name="fastapi",
            extra="fastapi",
            others=("uvicorn",),
            server="uvicorn",
            app="fastapi_site:app",
            greeting="from fastapi",
        ),
        Integration(
            name="wsgi",
            extra=None,
            others=("gunicorn",),
            server="gunicorn",
            app="plain_wsgi:app",
            greeting="hello from",
            cwd=PLAIN_APPS,
        ),
        Integration(
            name="asgi",
            extra=None,
            others=("uvicorn",),
            server="uvicorn",
            app="plain_asgi:app",
            greeting="hello from",
            cwd=PLAIN_APPS,
        ),
        Integration(
            name="prometheus",
            extra="prometheus",
            others=("uvicorn",),
            server="uvicorn",
            app="plain_asgi:app",
            greeting="hello from",
            cwd=PLAIN_APPS,
            env=(("GATEKEEPER_METRICS", "prometheus"), ("GATEKEEPER_METRICS_PATH", "/metrics")),
        ),
        Integration(
            name="asgi-trio",
            extra=None,
            others=("hypercorn[trio]",),
            server="hypercorn-trio",
            app="plain_asgi:app",
            greeting="hello from",
            cwd=PLAIN_APPS,
        ),
    ]
}


def run(
    argv: Iterable[str | Path],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    args = [str(arg) for arg in argv]
    try:
        completed = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise InstallFailed(f"$ {' '.join(args)}: no answer within {timeout:g}s") from exc
    print(f"$ {' '.join(args)}  -> {completed.returncode}\n{completed.stdout}{completed.stderr}")
    return completed


def _checked(
    argv: Iterable[str | Path], *, timeout: float, env: dict[str, str] | None = None
) -> None:
    completed = run(argv, timeout=timeout, env=env)
    if completed.returncode != 0:
        raise InstallFailed(
            f"$ {' '.join(map(str, completed.args))} exited {completed.returncode}\n"
            f"{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
        )


def build_wheel(out: Path) -> Path:
    """The wheel of the working tree as it is now (uncommitted changes included).

    Built from a copy, so that setuptools' ``build/`` and ``*.egg-info`` never land in
    the working tree (nor stale files from an earlier ``build/lib`` in the wheel).
    """
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES, symlinks=True)
    argv: list[str | Path] = [
        sys.executable, "-m", "pip", "wheel", "--no-deps", *PIP_QUIET, "-w", out, source,
    ]  # fmt: skip
    if _has_build_backend():
        argv.insert(4, "--no-build-isolation")
    _checked(argv, timeout=BUILD_TIMEOUT)
    wheels = sorted(out.glob("gatekeeper_deploy-*.whl"))
    if len(wheels) != 1:
        raise InstallFailed(f"expected one wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def _has_build_backend() -> bool:
    """Whether the dev venv can build without isolation: setuptools >= 69 and wheel."""
    try:
        setuptools = importlib.metadata.version("setuptools")
        importlib.metadata.version("wheel")
    except importlib.metadata.PackageNotFoundError:
        return False
    return int(setuptools.split(".")[0]) >= 69


@dataclass
class Venv:
    integration: Integration
    path: Path
    seconds: float = 0.0
    distributions: dict[str, importlib.metadata.Distribution] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def pip(self) -> list[str | Path]:
        """The dev venv's pip acting on this venv (which has no pip of its own)."""
        return [sys.executable, "-m", "pip", "--python", self.python]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process in this venv: its ``bin`` first on ``PATH``, no
        trace of the dev venv, no ``PYTHONPATH``, no inherited ``GATEKEEPER_*``."""
        dropped = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "FLASK_APP"}
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in dropped and not name.startswith(("GATEKEEPER_", "DJANGO_"))
        }
        path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != DEV_BIN]
        env["PATH"] = os.pathsep.join([str(self.bin), *path])
        env["VIRTUAL_ENV"] = str(self.path)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the app directories
        env.update(dict(self.integration.env))
        env.update(extra)
        return env

    def run(
        self, *argv: str | Path, env: dict[str, str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A script of this venv (``gatekeeper``, ``flask``, ``python``...) with ``argv``."""
        script, *args = argv
        return run(
            [self.bin / script, *args],
            timeout=COMMAND_TIMEOUT,
            cwd=cwd or self.integration.cwd,
            env=env,
        )

    def server(self, env: dict[str, str]) -> Server:
        """The integration's real server on a free loopback port, 1 worker."""
        port = free_port()
        if self.integration.server == "gunicorn":
            argv = [
                str(self.bin / "gunicorn"), self.integration.app,
                "--bind", f"127.0.0.1:{port}",
                "--workers", "1", "--worker-class", "gthread", "--threads", "4",
                "--graceful-timeout", "5", "--log-level", "warning",
            ]  # fmt: skip
        elif self.integration.server == "hypercorn-trio":
            argv = [
                str(self.bin / "hypercorn"), self.integration.app,
                "--bind", f"127.0.0.1:{port}", "--worker-class", "trio",
            ]  # fmt: skip
        else:
            argv = [
                str(self.bin / "uvicorn"), self.integration.app,
                "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--timeout-graceful-shutdown", "5",
            ]  # fmt: skip
        server = Server(argv, port, env, cwd=self.integration.cwd)
        server.env = env  # exactly this environment: Server would add the repository's path
        return server

    def installed(self) -> set[str]:
        """Canonical names of every distribution in the venv."""
        return set(self.distributions)

    def closure(self) -> set[str]:
        """The requested requirements and everything they require (markers and extras
        evaluated), as installed: what a venv holding only those must contain."""
        wanted: dict[str, set[str]] = {}
        todo = [Requirement(root) for root in self.integration.roots]
        while todo:
            requirement = todo.pop()
            name = canonicalize_name(requirement.name)
            if name not in self.distributions:
                raise AssertionError(f"{requirement} is required but not installed")
            done = wanted.get(name)
            extras = {""} | set(requirement.extras)
            if done is not None and extras <= done:
                continue
            wanted[name] = (done or set()) | extras
            for text in self.distributions[name].requires or []:
                child = Requirement(text)
                if child.marker is None or any(
                    child.marker.evaluate({"extra": extra}) for extra in extras
                ):
                    todo.append(child)
        return set(wanted)


def create_venv(base: Path, wheel: Path, integration: Integration) -> Venv:
    """``python -m venv --without-pip``, then the dev venv's pip installs into it: the
    venv holds exactly the requirements and what they pull in, not even pip or
    setuptools (nothing can lean on ``pkg_resources`` by accident), and skipping
    ``ensurepip`` halves the time of the step."""
    started = time.monotonic()
    venv = Venv(integration, base / integration.name)
    _checked([BASE_PYTHON, "-m", "venv", "--without-pip", venv.path], timeout=VENV_TIMEOUT)
    spec = f"{wheel}[{integration.extra}]" if integration.extra else str(wheel)
    _checked(
        [*venv.pip, "install", *PIP_QUIET, spec, *integration.others],
        timeout=INSTALL_TIMEOUT,
        env=venv.env(),
    )
    site = run(
        [venv.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        timeout=COMMAND_TIMEOUT,
        env=venv.env(),
    ).stdout.strip()
    venv.distributions = {
        canonicalize_name(dist.metadata["Name"]): dist
        for dist in importlib.metadata.distributions(path=[site])
    }
    venv.seconds = time.monotonic() - started
    return venv


@dataclass
class InstallStep:
    """The wheel and every integration's venv (or why it could not be made), with times."""

    wheel: Path
    wheel_seconds: float
    venvs: dict[str, Venv | BaseException]
    total_seconds: float

    def summary(self) -> str:
        parts = [f"wheel {self.wheel_seconds:.1f}s"]
        for name, venv in self.venvs.items():
            parts.append(
                f"{name} {venv.seconds:.1f}s" if isinstance(venv, Venv) else f"{name} FAILED"
            )
        return f"install step {self.total_seconds:.1f}s: " + ", ".join(parts)


def install_all(base: Path, integrations: Iterable[Integration]) -> InstallStep:
    """Build the wheel once, then create every venv in parallel."""
    started = time.monotonic()
    wheel = build_wheel(base / "wheel")
    wheel_seconds = time.monotonic() - started
    integrations = list(integrations)
    with ThreadPoolExecutor(max_workers=len(integrations)) as pool:
        futures = {
            integration.name: pool.submit(create_venv, base, wheel, integration)
            for integration in integrations
        }
        venvs: dict[str, Venv | BaseException] = {}
        for name, future in futures.items():
            try:
                venvs[name] = future.result(timeout=VENV_TIMEOUT + INSTALL_TIMEOUT + 60)
            except Exception as exc:
                venvs[name] = exc
    return InstallStep(wheel, wheel_seconds, venvs, time.monotonic() - started)
