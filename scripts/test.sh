#!/usr/bin/env bash
# Set up .venv with the test extras, lint, type-check, and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check --no-cache src tests benchmarks examples
.venv/bin/mypy src/tagsmith
# one worker per core (a file's tests stay on one worker, so its module fixtures are
# built once); pass -n 0 to run in one process
.venv/bin/python -m pytest -n auto --dist loadfile "$@"
