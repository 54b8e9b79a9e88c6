"""The install step: the wheel built once, one fresh venv per integration, in parallel."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.install.venvs import INTEGRATIONS, InstallStep, Venv, install_all

_STEP: list[InstallStep] = []


@pytest.fixture(scope="session")
def install_step() -> Iterator[InstallStep]:
    with tempfile.TemporaryDirectory(prefix="gk-install-") as base:
        try:
            step = install_all(Path(base), INTEGRATIONS.values())
        except Exception as exc:
            # Never a skip: a wheel that does not build fails every install test.
            pytest.fail(f"building the wheel failed: {exc}", pytrace=False)
        _STEP.append(step)
        yield step


@pytest.fixture
def venv(request: pytest.FixtureRequest, install_step: InstallStep) -> Venv:
    """The venv of the integration named by the test's (indirect) parameter."""
    name: str = request.param
    made = install_step.venvs[name]
    if not isinstance(made, Venv):
        pytest.fail(f"installing the {name!r} venv failed: {made}", pytrace=False)
    return made


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for step in _STEP:
        terminalreporter.write_sep("-", "minimal installs")
        terminalreporter.write_line(step.summary())
