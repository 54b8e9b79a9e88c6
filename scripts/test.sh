#!/usr/bin/env bash
# Set up (scripts/setup.sh, plus Debian's chromium for tests/browser) and run every check:
# ruff, mypy and the whole pytest suite, against a real redis-server.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh chromium:chromium  # tests/browser needs a real browser
.venv/bin/ruff check src tests examples benchmarks
.venv/bin/ruff format --check src tests examples benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
