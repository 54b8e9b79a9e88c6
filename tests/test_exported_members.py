"""The public names: one list, ``gatekeeper.__all__``, and everything agrees with it.

``gatekeeper/__init__.py`` keeps three lists for three readers (the ``TYPE_CHECKING``
imports for type checkers, ``_EXPORTS`` for the lazy import, ``__all__`` for
``import *`` and the docs), in the manner of httpx's ``tests/test_exported_members.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gatekeeper

INIT = Path(gatekeeper.__file__)


def _type_checking_names() -> dict[str, str]:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                assert isinstance(child, ast.ImportFrom)
                assert child.module
                names.update({alias.name: child.module for alias in child.names})
    return names


def test_all_lists_every_export_once_and_sorted() -> None:
    assert gatekeeper.__all__ == sorted(set(gatekeeper.__all__))
    assert set(gatekeeper.__all__) == {*gatekeeper._EXPORTS, "__version__"}


def test_type_checking_imports_match_the_lazy_exports() -> None:
    assert _type_checking_names() == gatekeeper._EXPORTS


def test_each_export_resolves_to_an_object_defined_where_it_says() -> None:
    for name, module in gatekeeper._EXPORTS.items():
        value = getattr(gatekeeper, name)
        assert getattr(value, "__module__", module) == module, name


def test_public_attributes_after_every_import_are_the_exports() -> None:
    # A fresh interpreter: touch every export, then list what the package holds that is
    # neither private nor a subpackage/module (those are reached by their dotted path).
    code = (
        "import types, gatekeeper\n"
        "[getattr(gatekeeper, n) for n in gatekeeper.__all__]\n"
        "print(sorted(n for n, v in vars(gatekeeper).items()\n"
        "    if not n.startswith('_') and not isinstance(v, types.ModuleType)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    public = ast.literal_eval(out.stdout.strip())
    assert public == sorted(set(gatekeeper.__all__) - {"__version__"})


def test_dir_is_the_public_list() -> None:
    assert dir(gatekeeper) == gatekeeper.__all__
