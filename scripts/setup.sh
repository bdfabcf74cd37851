#!/usr/bin/env bash
# Creates .venv and installs xiaoer with its dependencies (idempotent). Used by both README commands.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "${1:-}" = "test" ]; then
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".[test]"
else
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e .
fi
