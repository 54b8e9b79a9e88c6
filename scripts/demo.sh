#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: live traffic through a held deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m examples.quickstart.demo "$@"
