#!/usr/bin/env bash
# The test command: install what the tests need, lint, type-check, run the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k ingest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy --strict"
.venv/bin/mypy
echo "==> pytest"
# Browser tests keep their screenshots here (git-ignored), for a person to look at.
export CANTEEN_SCREENSHOT_DIR="${CANTEEN_SCREENSHOT_DIR:-$PWD/test-artifacts/screenshots}"
# pytest exits 5 when it collects no test: with set -e that fails the run, as it should.
.venv/bin/pytest "$@"
