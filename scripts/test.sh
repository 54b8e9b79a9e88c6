#!/usr/bin/env bash
# Set up (scripts/setup.sh, plus Debian's chromium for tests/browser, nginx and wrk for the
# reload tests) and run every check:
# ruff, mypy and the whole pytest suite, against a real redis-server.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/browser needs a real browser; tests/e2e/test_code_deploys.py a real nginx and wrk;
# tests/watch a real terminal, tmux's
scripts/setup.sh chromium:chromium nginx:nginx wrk:wrk tmux:tmux
.venv/bin/ruff check src tests examples benchmarks tools
.venv/bin/ruff format --check src tests examples benchmarks tools
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
