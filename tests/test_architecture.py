"""The layout's rules, checked on the source: no import cycle, a pure core, and a runner
that no web process imports.

The import graph is read from the AST of every module under ``src/gatekeeper``. For
cycles, an import inside a function counts like one at the top (a lazy import cannot hide
a cycle); for what a web process loads, only imports that run when the module is imported
count (``flask gatekeeper``'s commands import the CLI when they run, never before), and a
real process confirms it. An import under ``if TYPE_CHECKING:`` never counts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "gatekeeper"

CORE_STDLIB = {
    "__future__", "base64", "collections", "dataclasses", "enum", "functools", "hashlib",
    "hmac", "html", "http", "importlib", "ipaddress", "json", "math", "re", "string",
    "typing", "urllib",
}  # fmt: skip
"""What the core may import besides itself and werkzeug's parsers: no ``time``, ``os``,
``socket``, ``threading``, ``asyncio`` or Redis."""

WEB_PROCESS = (
    "gatekeeper.middleware",
    "gatekeeper.state",
    "gatekeeper.core",
    "gatekeeper.options",
    "gatekeeper.contrib.django.middleware",
    "gatekeeper.contrib.django.apps",
    "gatekeeper.contrib.django.checks",
    "gatekeeper.contrib.flask",
    "gatekeeper.contrib.gunicorn",
    "gatekeeper.contrib.waitress",
)
"""Modules a web process imports; the Flask extension imports its commands' module when
it registers them, so ``contrib.flask.cli`` is in the closure and checked too."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST, lazy: bool) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if not lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@cache
def imported(module: str, lazy: bool = True) -> frozenset[str]:
    """The modules ``module`` imports at run time (``lazy``: in functions too), dotted."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8")), lazy):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            # ``from gatekeeper.core import bypass`` imports the module gatekeeper.core.bypass
            candidate = f"{base}.{alias.name}"
            names.add(candidate if candidate in _modules() else base)
    return frozenset(names)


def internal_edges(module: str, lazy: bool = True) -> set[str]:
    return {name for name in imported(module, lazy) if name in _modules() and name != module}


def loaded_on_import(roots: list[str]) -> set[str]:
    """What importing ``roots`` loads, following module-level imports only."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(internal_edges(module, lazy=False))
    return seen


def find_cycle() -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or ``None``."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(internal_edges(module)):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(_modules()):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_source_tree_has_no_import_cycle() -> None:
    assert find_cycle() is None, " -> ".join(find_cycle() or [])


def test_cycle_finder_on_a_planted_cycle_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The finder itself must be able to fail: plant a -> b -> a on top of the real graph.
    edges = {"gatekeeper.core.modes": {"gatekeeper.options"}, "gatekeeper.options": set()}
    real = internal_edges

    def planted(module: str, lazy: bool = True) -> set[str]:
        extra = {"gatekeeper.core.modes"} if module == "gatekeeper.options" else set()
        return real(module, lazy) | edges.get(module, set()) | extra

    monkeypatch.setattr(sys.modules[__name__], "internal_edges", planted)
    cycle = find_cycle()
    assert cycle is not None
    assert cycle[0] == cycle[-1]


@pytest.mark.parametrize("module", sorted(m for m in _modules() if m.startswith("gatekeeper.core")))
def test_core_module_imports_only_pure_code(module: str) -> None:
    for name in imported(module):
        top = name.split(".")[0]
        if name.startswith("gatekeeper."):
            assert name.startswith("gatekeeper.core"), f"{module} imports {name}"
        else:
            assert top in CORE_STDLIB or top == "werkzeug", f"{module} imports {name}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("gatekeeper.state", ("gatekeeper.middleware", "gatekeeper.runner", "gatekeeper.contrib")),
        ("gatekeeper.middleware", ("gatekeeper.runner", "gatekeeper.contrib", "gatekeeper.cli")),
        ("gatekeeper.runner", ("gatekeeper.middleware", "gatekeeper.contrib", "gatekeeper.cli")),
        (
            "gatekeeper.watch",
            ("gatekeeper.middleware", "gatekeeper.runner", "gatekeeper.contrib", "gatekeeper.cli"),
        ),
    ],
)
def test_package_imports_only_the_layers_below_it(package: str, forbidden: tuple[str, ...]) -> None:
    # core <- state <- middleware <- contrib; the runner stands beside the middleware,
    # on the state and the core, and the CLI on top of the runner.
    for module in (m for m in _modules() if m.startswith(package)):
        wrong = sorted(n for n in internal_edges(module) if n.startswith(forbidden))
        assert wrong == [], f"{module} imports {wrong}"


def test_web_process_modules_never_import_the_runner_or_the_cli() -> None:
    roots = [m for m in _modules() if any(m == r or m.startswith(r + ".") for r in WEB_PROCESS)]
    reached = loaded_on_import(roots)
    operator = sorted(m for m in reached if m.startswith(("gatekeeper.runner", "gatekeeper.cli")))
    assert operator == []


def test_web_process_modules_never_import_the_watch() -> None:
    roots = [m for m in _modules() if any(m == r or m.startswith(r + ".") for r in WEB_PROCESS)]
    assert sorted(m for m in loaded_on_import(roots) if m.startswith("gatekeeper.watch")) == []


def test_rich_is_imported_by_the_watch_view_alone_and_that_view_only_lazily() -> None:
    # rich is an extra (`watch`): a core install must import, and run, without it.
    importers = {m for m in _modules() if any(n.split(".")[0] == "rich" for n in imported(m))}
    assert importers == {"gatekeeper.watch._rich"}
    eager = {m for m in _modules() if "gatekeeper.watch._rich" in internal_edges(m, lazy=False)}
    assert eager == set()


def test_runner_package_is_imported_by_the_cli_alone() -> None:
    importers = {
        module
        for module in _modules()
        if not module.startswith("gatekeeper.runner")
        and any(name.startswith("gatekeeper.runner") for name in internal_edges(module))
    }
    assert importers == {"gatekeeper.cli", "gatekeeper._cli_parser"}


def test_web_process_at_run_time_loads_no_runner_module() -> None:
    # What a real process does: gunicorn's hooks, a Flask app with its commands
    # registered, Django's middleware, both middleware classes built.
    code = textwrap.dedent(
        """
        import sys
        import django
        from django.conf import settings
        settings.configure(GATEKEEPER_REDIS_URL="redis://127.0.0.1:9/0")
        django.setup()
        import flask
        import gatekeeper
        import gatekeeper.contrib.gunicorn, gatekeeper.contrib.waitress
        from gatekeeper.contrib.django import GatekeeperMiddleware
        from gatekeeper.contrib.flask import Gatekeeper
        app = flask.Flask("probe")
        Gatekeeper(app, redis_url="redis://127.0.0.1:9/0")
        gatekeeper.WSGIMiddleware(app.wsgi_app, redis_url="redis://127.0.0.1:9/0")
        gatekeeper.ASGIMiddleware(lambda *a: None, redis_url="redis://127.0.0.1:9/0")
        operator = ("gatekeeper.runner", "gatekeeper.cli", "gatekeeper.watch", "rich")
        print(",".join(sorted(m for m in sys.modules if m.startswith(operator))) or "none")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "none"
