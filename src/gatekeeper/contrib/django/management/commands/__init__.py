"""Commands: ``gatekeeper`` (see :mod:`.gatekeeper`)."""
