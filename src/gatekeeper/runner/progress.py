"""What the runner shows on stderr: a live status line on a terminal, timestamped lines
otherwise (CI logs, files), so a deploy log says when each phase began.

Every line is also an event (:mod:`gatekeeper.events`): the event name is a required
argument, so no line can be shown without one, and ``--log-format json`` (``echo=False``)
loses nothing by not printing the lines. ``log_text`` is what the event says when the
line shows COMMAND: the line shows it as given, today's output, while the event's copy
is masked, since log systems keep and share what they get.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, TextIO

from gatekeeper.events import emit

__all__ = ["Progress"]


class Progress:
    def __init__(
        self, stream: TextIO | None = None, *, live: bool | None = None, echo: bool = True
    ) -> None:
        self.stream = stream or sys.stderr
        self.echo = echo
        """``False``: events only, nothing written to ``stream`` (``--log-format json``)."""
        self.live = echo and (self.stream.isatty() if live is None else live)
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._phase = ""
        self._dirty_line = False

    def phase(
        self,
        text: str,
        event: str,
        *,
        level: int = logging.INFO,
        log_text: str | None = None,
        **fields: Any,
    ) -> None:
        """A new phase: always printed as its own line."""
        emit(event, text if log_text is None else log_text, level=level, **fields)
        with self._lock:
            self._phase = text
            self._clear()
            self._write(self._stamp(text) + "\n")

    def note(
        self,
        text: str,
        event: str,
        *,
        level: int = logging.WARNING,
        log_text: str | None = None,
        **fields: Any,
    ) -> None:
        """Something to know between phases; an event at WARNING unless told."""
        emit(event, text if log_text is None else log_text, level=level, **fields)
        with self._lock:
            self._clear()
            self._write(self._stamp(text) + "\n")

    def tick(self, held_now: int) -> None:
        """Refresh the live line (terminal only); plain output stays quiet between phases."""
        self.live_line(f"held now: {held_now}")

    def live_line(self, text: str) -> None:
        """The live line's detail after the phase and the clock (terminal only)."""
        with self._lock:
            if self.live:
                elapsed = time.monotonic() - self.started
                self._write(f"\r\033[K gatekeeper: {self._phase} · {elapsed:5.1f}s · {text}")
                self._dirty_line = True

    def close(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        if self._dirty_line:
            self._write("\r\033[K")
            self._dirty_line = False

    def _stamp(self, text: str) -> str:
        elapsed = time.monotonic() - self.started
        if self.live:
            return f"gatekeeper: [{elapsed:5.1f}s] {text}"
        clock = time.strftime("%H:%M:%S")
        return f"gatekeeper: {clock} [{elapsed:5.1f}s] {text}"

    def _write(self, text: str) -> None:
        if not self.echo:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not stop a deploy
            pass
