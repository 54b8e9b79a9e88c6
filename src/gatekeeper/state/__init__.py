"""The shared state in Redis (the README's key contract) and the thread that follows it.

``keys`` names every key and the channel; ``snapshot`` parses what Redis holds into an
immutable ``Snapshot``; ``store`` writes and reads the state for the operator commands;
``processes`` is the heartbeat registry of live gate processes, which ``_reporter`` writes
from each of them. ``watcher`` is the one thread per process (per Redis and prefix) that
subscribes, polls as a fallback, and publishes a new snapshot for the gates to read; it
fails open or closed after ``stale_timeout`` without Redis, as configured.
"""
