#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install tagsmith into it with the given extras.
# Usage: bash scripts/setup.sh [EXTRAS]   e.g. bash scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: tagsmith needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
# reuse .venv only while its interpreter still runs and is new enough: one whose Python was
# removed or upgraded away (a dangling link) failed every re-run with "No such file or
# directory", and one made by hand with an older Python failed in pip
if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  [ -e .venv ] && echo "setup: .venv has no working Python >= 3.11; recreating it" >&2
  "$PYTHON" -m venv --clear .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
spec="."
[ -n "${1:-}" ] && spec=".[$1]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
