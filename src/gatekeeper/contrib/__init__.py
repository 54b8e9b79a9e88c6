"""Integrations with web frameworks, each in its own subpackage.

They translate a framework's request into the gate's :class:`~gatekeeper.core.decision.RequestFacts`
and its answers into the framework's responses; the decisions, holding and the 503 page
stay in :mod:`gatekeeper.middleware.gate`. Importing this package imports no framework; each
subpackage needs its framework, installed with the extra of the same name, and raises
``ImportError`` naming that extra without it.

- :mod:`gatekeeper.contrib.django`: middleware, settings, system checks, the
  ``gatekeeper`` management command and an overridable ``gatekeeper/maintenance.html``
  (``pip install 'gatekeeper-deploy[django]'``).
- :mod:`gatekeeper.contrib.flask`: the ``Gatekeeper`` extension and ``flask gatekeeper``
  (``[flask]``; ``flask gatekeeper pending`` also needs ``[flask-migrate]``).
"""
