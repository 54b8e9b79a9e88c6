"""What the runner shows on stderr: a live status line on a terminal, timestamped lines
otherwise (CI logs, files), so a deploy log says when each phase began."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._phase = ""
        self._dirty_line = False

    def phase(self, text: str) -> None:
        """A new phase: always printed as its own line."""
        with self._lock:
            self._phase = text
            self._clear()
            self._write(self._stamp(text) + "\n")

    def note(self, text: str) -> None:
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
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not stop a deploy
            pass
