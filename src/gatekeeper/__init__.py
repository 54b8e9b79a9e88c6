"""gatekeeper: deploy web apps without a single failed request.

WSGI and ASGI middleware that pass, hold or turn away requests according to one
state kept in Redis, and a runner that sets that state around a migration.

Names are imported on first use, so that ``gatekeeper`` on the command line does not pay
for the middleware's imports.
"""

# No ``from __future__ import annotations`` and private aliases only: every name bound
# here is part of the public list (tests/test_exported_members.py).
import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from gatekeeper.core.decision import Decision, Reason, RequestFacts, Verdict, decide
    from gatekeeper.core.modes import Mode
    from gatekeeper.exceptions import OptionError
    from gatekeeper.middleware.asgi import ASGIMiddleware
    from gatekeeper.middleware.gate import Gate
    from gatekeeper.middleware.wsgi import WSGIMiddleware
    from gatekeeper.options import GateOptions, build_options
    from gatekeeper.state.keys import Keys

__version__ = "0.1.0.dev0"

_EXPORTS = {
    "ASGIMiddleware": "gatekeeper.middleware.asgi",
    "Decision": "gatekeeper.core.decision",
    "Gate": "gatekeeper.middleware.gate",
    "GateOptions": "gatekeeper.options",
    "Keys": "gatekeeper.state.keys",
    "Mode": "gatekeeper.core.modes",
    "OptionError": "gatekeeper.exceptions",
    "Reason": "gatekeeper.core.decision",
    "RequestFacts": "gatekeeper.core.decision",
    "Verdict": "gatekeeper.core.decision",
    "WSGIMiddleware": "gatekeeper.middleware.wsgi",
    "build_options": "gatekeeper.options",
    "decide": "gatekeeper.core.decision",
}

__all__ = [
    "ASGIMiddleware",
    "Decision",
    "Gate",
    "GateOptions",
    "Keys",
    "Mode",
    "OptionError",
    "Reason",
    "RequestFacts",
    "Verdict",
    "WSGIMiddleware",
    "__version__",
    "build_options",
    "decide",
]


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gatekeeper' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
