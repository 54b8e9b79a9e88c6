"""gatekeeper: deploy web apps without a single failed request.

WSGI and ASGI middleware that pass, hold or turn away requests according to one
state kept in Redis, and a runner that sets that state around a migration.
"""

from __future__ import annotations

from gatekeeper.asgi import ASGIMiddleware
from gatekeeper.decision import Decision, RequestFacts, Verdict, decide
from gatekeeper.gate import Gate
from gatekeeper.keys import Keys
from gatekeeper.modes import Mode
from gatekeeper.options import GateOptions, OptionError, build_options
from gatekeeper.wsgi import WSGIMiddleware

__version__ = "0.1.0.dev0"

__all__ = [
    "ASGIMiddleware",
    "Decision",
    "Gate",
    "GateOptions",
    "Keys",
    "Mode",
    "OptionError",
    "RequestFacts",
    "Verdict",
    "WSGIMiddleware",
    "__version__",
    "build_options",
    "decide",
]
