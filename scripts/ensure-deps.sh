#!/usr/bin/env bash
# prestart/pretest: install from the lock file when node_modules is missing or older than it, so
# `npm start` and `npm test` work on a fresh clone with nothing typed before them.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "Installing dependencies from package-lock.json (npm ci)..." >&2
  npm ci --no-audit --no-fund
fi
