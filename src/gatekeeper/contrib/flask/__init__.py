"""Flask integration: the gate as a Flask extension, and ``flask gatekeeper`` commands.

::

    from flask import Flask
    from gatekeeper.contrib.flask import Gatekeeper

    gatekeeper = Gatekeeper()

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config.from_prefixed_env()      # or set GATEKEEPER_* keys any other way
        gatekeeper.init_app(app)
        return app

Options have the same names as everywhere else: the keyword argument (``hold_timeout``)
or, upper-cased with a ``GATEKEEPER_`` prefix, the config key ``GATEKEEPER_HOLD_TIMEOUT``.
A keyword given to :class:`Gatekeeper` wins over ``app.config``, which wins over the
environment variable of the same name. A bad value raises
:class:`gatekeeper.OptionError` from :meth:`Gatekeeper.init_app`, naming the key.

``init_app`` wraps ``app.wsgi_app`` in :class:`gatekeeper.WSGIMiddleware`, so the gate
runs before Flask sees the request (before ``before_request`` handlers, sessions and the
database), and registers the ``flask gatekeeper`` command group (see
:mod:`gatekeeper.contrib.flask.cli`). Its per-app state, a :class:`GatekeeperState`, is
``app.extensions["gatekeeper"]``.
"""

from __future__ import annotations

from typing import Any

try:
    from flask import Flask
except ImportError as exc:  # the core install has no Flask
    raise ImportError(
        "gatekeeper.contrib.flask needs Flask: pip install 'gatekeeper-deploy[flask]'"
    ) from exc

from gatekeeper.contrib.flask._state import (
    EXTENSION_KEY,
    GatekeeperState,
    config_lookup,
    state_for,
)
from gatekeeper.middleware.gate import Gate
from gatekeeper.middleware.wsgi import WSGIMiddleware
from gatekeeper.options import build_options

__all__ = ["EXTENSION_KEY", "Gatekeeper", "GatekeeperState", "config_lookup", "state_for"]


class Gatekeeper:
    """The Flask extension. ``Gatekeeper(app)``, or ``Gatekeeper()`` then ``init_app``.

    Keyword options apply to every app this instance is initialised on.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        # Validated per app in init_app: only there is the config known.
        self.options: dict[str, Any] = dict(options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> GatekeeperState:
        """Gate ``app`` and register the ``flask gatekeeper`` commands on it."""
        if EXTENSION_KEY in app.extensions:
            # A second wrap would screen each request twice and count it twice in flight.
            raise RuntimeError(f"gatekeeper is already initialised on app {app.name!r}")
        options = build_options(self.options, lookup=config_lookup(app.config))
        gate = Gate(options)
        middleware = WSGIMiddleware(app.wsgi_app, gate=gate)
        app.wsgi_app = middleware  # type: ignore[method-assign]
        state = GatekeeperState(extension=self, gate=gate, middleware=middleware)
        app.extensions[EXTENSION_KEY] = state

        # Imported here so that importing the extension does not import click's command
        # machinery for apps that never touch the CLI.
        from gatekeeper.contrib.flask.cli import gatekeeper_group

        app.cli.add_command(gatekeeper_group)
        return state
