#!/usr/bin/env bash
# Set up .venv with the test extras, lint, type-check, and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check --no-cache src tests benchmarks examples
.venv/bin/mypy src/tagsmith
.venv/bin/python -m pytest "$@"
