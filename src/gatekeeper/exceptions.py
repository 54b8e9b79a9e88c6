"""The errors gatekeeper raises to its callers.

They live apart from the code that raises them so that the option parsers, the options
table and the runner can all import them without importing each other.
"""

from __future__ import annotations

__all__ = ["ENV_PREFIX", "LockBusy", "OptionError", "setting_name"]

ENV_PREFIX = "GATEKEEPER_"


def setting_name(option: str) -> str:
    """``hold_timeout`` -> ``GATEKEEPER_HOLD_TIMEOUT``."""
    return ENV_PREFIX + option.upper()


class OptionError(ValueError):
    """A bad option value; ``option`` is the keyword name."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"gatekeeper option {option} ({setting_name(option)}): {problem}")
        self.option = option
        self.problem = problem


class LockBusy(Exception):
    """Another runner holds the lock; ``holder`` names it."""

    def __init__(self, holder: str, ttl: float | None) -> None:
        super().__init__(holder)
        self.holder = holder
        self.ttl = ttl
