"""Fixtures of the in-process ASGI middleware tests: a recording app behind a fresh gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gatekeeper import ASGIMiddleware, Gate
from tests.support.asgi_support import RecordingApp


@pytest.fixture
def app() -> RecordingApp:
    return RecordingApp()


@pytest.fixture
def middleware(make_gate: Callable[..., Gate], app: RecordingApp) -> Callable[..., ASGIMiddleware]:
    def factory(**options: Any) -> ASGIMiddleware:
        return ASGIMiddleware(app, gate=make_gate(**options))

    return factory
