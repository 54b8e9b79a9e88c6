"""The decisions, with no I/O: what a request gets in a given state, and the replies.

The rule of this package, as werkzeug's ``sansio``: nothing here touches Redis, a thread,
the clock, the environment, a WSGI ``environ`` or an ASGI ``scope``. Callers pass in the
facts of a request (``RequestFacts``), the state (a ``Snapshot``), the options and the
time, and get back a ``Decision`` or a ``Reply``. That makes every rule a pure function,
tested without a server, and lets the WSGI, ASGI and Django adapters share one set of
rules. ``tests/test_architecture.py`` checks the imports.
"""
