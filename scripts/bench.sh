#!/usr/bin/env bash
# Set up (scripts/setup.sh, plus Debian's wrk) and run the benchmark suite: about 10 minutes
# on 2 cores. Writes benchmarks/results/latest.json and latest.svg.
# Usage: scripts/bench.sh [--quick] [--only open,instructions,release,propagation,memory,runner,burst]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh wrk:wrk valgrind:valgrind
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[bench]" 2>&1 \
  | { grep -v "^WARNING: Location" || true; }
exec .venv/bin/python -m benchmarks "$@"
