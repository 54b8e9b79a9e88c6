"""How a held request fared: the verdicts a hold can end with, named for the metrics.

Pure, like the rest of the core: the gate counts and records what this names.
"""

from __future__ import annotations

from typing import Literal

from gatekeeper.core.decision import HANDOFF, Decision, Reason, Verdict

__all__ = ["DISCONNECTED", "HOLD_OUTCOMES", "TIMED_OUT", "HoldOutcome", "hold_outcome"]

TIMED_OUT = Verdict(Decision.REJECT, Reason.HOLD_TIMEOUT)
"""How a hold ends at its deadline."""
DISCONNECTED = Verdict(Decision.REJECT, Reason.DISCONNECTED)
"""How a hold ends when its client went away (no answer is sent)."""

HoldOutcome = Literal["released", "timeout", "client_gone", "handed_off", "rejected", "capacity"]
"""How a request the gate meant to hold fared: let through (``released``), answered the
503 at its deadline (``timeout``), given up by its client (``client_gone``), redirected
to the new release (``handed_off``), answered the 503 because the state turned to one
that answers it (``rejected``: an overrun's ``maintenance``), or never held because
``max_held`` requests already were (``capacity``)."""

HOLD_OUTCOMES: tuple[HoldOutcome, ...] = (
    "released", "timeout", "client_gone", "handed_off", "rejected", "capacity",
)  # fmt: skip


def hold_outcome(verdict: Verdict) -> HoldOutcome:
    """How a hold that ended with ``verdict`` fared. A ``hold`` verdict at its end means
    the wait was cut short (its task cancelled: servers do that when the client goes)."""
    if verdict.decision is Decision.PASS:
        return "released"
    if verdict is HANDOFF:
        return "handed_off"
    if verdict is TIMED_OUT:
        return "timeout"
    if verdict is DISCONNECTED or verdict.decision is Decision.HOLD:
        return "client_gone"
    return "rejected"
