#!/usr/bin/env bash
# The demo command: install what it needs, then run broker, database, ingest, dashboard and
# simulated devices for one site. Ctrl-C stops everything. Extra arguments go to
# `canteen demo` (e.g. scripts/demo.sh --sites 3 --speed 60).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
exec .venv/bin/canteen demo "$@"
