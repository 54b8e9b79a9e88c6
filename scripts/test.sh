#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every check: ruff, mypy and the whole pytest suite,
# against a real redis-server. Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
