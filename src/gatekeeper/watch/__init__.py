"""``gatekeeper watch``: a live view of the gate, its lock and every gate process.

The model (``_frame``) is pure; the plain view (``_plain``) needs nothing beyond the
core; the terminal view (``_rich``) needs rich, the ``watch`` extra, and is imported
only when it is used.
"""

from __future__ import annotations

from gatekeeper.watch._loop import run_watch

__all__ = ["run_watch"]
