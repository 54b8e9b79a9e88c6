"""The Flask extension's per-app state, ``app.extensions["gatekeeper"]``, and its lookup.

Apart from the extension so that the ``flask gatekeeper`` commands can read an app's gate
without importing the module that registers them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from gatekeeper.contrib.flask import Gatekeeper
    from gatekeeper.middleware.gate import Gate
    from gatekeeper.middleware.wsgi import WSGIMiddleware
    from gatekeeper.options import GateOptions

__all__ = ["EXTENSION_KEY", "GatekeeperState", "config_lookup", "state_for"]

EXTENSION_KEY = "gatekeeper"


def config_lookup(config: Mapping[str, Any]) -> Callable[[str], object | None]:
    """Look a ``GATEKEEPER_*`` name up in ``config``, then in the environment.

    A key set to ``None`` in the config counts as unset, as it does for keywords.
    """

    def lookup(name: str) -> object | None:
        value = config.get(name)
        return os.environ.get(name) if value is None else value

    return lookup


@dataclass(frozen=True)
class GatekeeperState:
    """What :meth:`Gatekeeper.init_app` leaves in ``app.extensions["gatekeeper"]``."""

    extension: Gatekeeper
    gate: Gate
    middleware: WSGIMiddleware

    @property
    def options(self) -> GateOptions:
        return self.gate.options


def state_for(app: Flask) -> GatekeeperState:
    """The app's :class:`GatekeeperState`; a clear error when ``init_app`` never ran."""
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, GatekeeperState):
        raise RuntimeError(
            f"gatekeeper is not initialised on app {app.name!r}: call Gatekeeper().init_app(app)"
        )
    return state
