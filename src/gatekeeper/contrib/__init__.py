"""Integrations with web frameworks, each in its own subpackage.

They translate a framework's request into the gate's :class:`~gatekeeper.decision.RequestFacts`
and its answers into the framework's responses; the decisions, holding and the 503 page
stay in :mod:`gatekeeper.gate`. Importing this package imports no framework.

- :mod:`gatekeeper.contrib.django`: middleware, settings, system checks, the
  ``gatekeeper`` management command and an overridable ``gatekeeper/maintenance.html``.
"""
