#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: a deploy with a ~5 s migration under live
# traffic, then a report and a timeline SVG (./gatekeeper-demo.svg, or --out PATH).
# Usage: scripts/demo.sh [--out PATH] [--seed-rows N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && scripts/setup.sh)
# Run from the caller's directory, so that ./gatekeeper-demo.svg and a relative --out land
# where the caller is; PYTHONPATH lets `-m examples.demo` find the repository.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$root/.venv/bin/python" -m examples.demo "$@"
