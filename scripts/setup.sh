#!/usr/bin/env bash
# Prepare a fresh Debian machine: system packages (as root) and a virtualenv in .venv
# holding the package with its test extras. Safe to run again: it skips what is there.
# Usage: scripts/setup.sh [extra Debian packages...]
set -euo pipefail
cd "$(dirname "$0")/.."

# binary:package; a binary given as a path (Debian keeps PostgreSQL's server off PATH, under
# /usr/lib/postgresql/<major>/bin, for tests/support/postgres.py) is a glob that must match a file
want=(redis-server:redis-server redis-cli:redis-tools
  "/usr/lib/postgresql/*/bin/initdb:postgresql" "$@")
missing=()
for item in "${want[@]}"; do
  binary=${item%%:*}
  package=${item#*:}
  if [[ $binary == */* ]]; then
    compgen -G "$binary" >/dev/null || missing+=("$package")
  else
    command -v "$binary" >/dev/null 2>&1 || missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and rerun" >&2
    exit 1
  fi
fi

# Valkey, for the Sentinel and Cluster tests that run against it as well as Redis: in the
# main archive from Debian 13, in bookworm-backports for Debian 12.
if ! command -v valkey-server >/dev/null 2>&1 || ! command -v valkey-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing valkey-server valkey-tools with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    suite=()
    if [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ]; then
      backports=/etc/apt/sources.list.d/gatekeeper-bookworm-backports.sources
      [ -e "$backports" ] || printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" \
        "Suites: bookworm-backports" "Components: main" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >"$backports"
      suite=(-t bookworm-backports)
    fi
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${suite[@]}" valkey-server valkey-tools >/dev/null
  else
    echo "setup: missing valkey-server; install it (sudo apt-get install valkey-server" \
      "valkey-tools; on Debian 12 from bookworm-backports) and rerun" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 \
  | { grep -v "^WARNING: Location" || true; }
