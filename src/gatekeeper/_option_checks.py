"""Checks of the options that need the whole set, or the disk: run once by
:func:`gatekeeper.options.build_options`, after every option parsed on its own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper.exceptions import OptionError

if TYPE_CHECKING:
    from gatekeeper.options import GateOptions

__all__ = ["check_combinations", "read_template"]


def read_template(path: str) -> str:
    """The ``template`` file's text, read once (a request never reads the disk)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError("template", f"cannot read {path!r}: {exc.__class__.__name__}") from None


def check_combinations(options: GateOptions) -> None:
    """Refuse options that are valid one by one but not together."""
    if options.bypass_secret and options.bypass_path.rstrip("/") in {"", "/"}:
        raise OptionError("bypass_path", "must not be '/'")
    overlap = set(options.health_paths) & set(options.api_prefixes)
    if overlap:
        raise OptionError("api_prefixes", f"{sorted(overlap)[0]!r} is also a health path")
    if options.metrics_path is not None:
        if "prometheus" not in options.metrics:
            raise OptionError("metrics_path", "serves Prometheus: add prometheus to metrics")
        if options.metrics_path.rstrip("/") in {"", options.bypass_path.rstrip("/")}:
            raise OptionError("metrics_path", "must not be '/' nor the bypass path")
