"""The argparse types of the ``gatekeeper`` command's options: each checks its text as
the gate option of the same meaning does, so ``--retry-after 0`` is refused with the
words ``retry_after=0`` would be."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from gatekeeper._parsers import parse_number
from gatekeeper.options import OptionError, parse_option

__all__ = ["checked", "command_argv", "host_name", "number", "release_name"]


def number(option: str, low: float, high: float, integer: bool = False) -> Any:
    """An argparse type with the same validation as the option of that name."""

    def parse(text: str) -> float:
        try:
            value = parse_number(option, text, low=low, high=high, integer=integer)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None
        return int(value) if integer else value

    return parse


def checked(name: str) -> Any:
    """An argparse type that validates through the gate option ``name`` itself."""

    def parse(text: str) -> Any:
        try:
            return parse_option(name, text)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None

    return parse


def release_name(text: str) -> str:
    """``--await-release R``: a release name, never empty (an unset ``$RELEASE`` in a
    deploy script must not silently turn the wait off)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a release name, not an empty string")
    value: str = checked("release")(text)
    return value


def host_name(text: str) -> str:
    """``--host``, ``--expect-host``: checked as the ``hostname`` option is, so a name no
    gate could report is refused and ``web-1.internal`` compares as ``web-1``."""
    value: str = checked("hostname")(text)
    return value


def command_argv(text: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {text!r}: {exc}") from None
    if not argv:
        raise argparse.ArgumentTypeError("the command is empty")
    return argv
