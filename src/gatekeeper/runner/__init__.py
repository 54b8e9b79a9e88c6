"""The operator side: ``run-migration``, ``reload`` and the state they set around them.

The rule of this package: no web process ever imports it (``tests/test_architecture.py``
checks it). ``migration`` runs the phases of ``run-migration`` (lock, hold, drain,
migrate, optionally restart and await the new release, open or hand off); ``reload``
runs a code-only deploy with keep-alive off; ``lease`` owns the lock and every state
write during a run; ``command`` starts and signals the operator's commands; ``options``
holds their validated settings; ``progress`` prints the phases.
"""
