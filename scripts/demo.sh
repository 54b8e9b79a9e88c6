#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo (examples/demo): the Django example under
# gunicorn and open-loop traffic (100 requests/s, following redirects) through two
# deploys: new code v2 with a 2-5 s migration (run-migration --restart --await-release
# --handoff), then new code v3 alone (reload); then a report and a timeline SVG
# (./gatekeeper-demo.svg, or --out PATH). About 20 s on 2 cores; exit 0 only if no
# request failed, every write is stored exactly once and both deploys succeeded.
# Usage: scripts/demo.sh [--out PATH] [--seed-rows N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && scripts/setup.sh)
# Run from the caller's directory, so that ./gatekeeper-demo.svg and a relative --out land
# where the caller is; PYTHONPATH lets `-m examples.demo` find the repository.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$root/.venv/bin/python" -m examples.demo "$@"
