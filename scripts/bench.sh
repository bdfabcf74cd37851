#!/usr/bin/env bash
# Runs the benchmarks (not part of the test suite): each prints its figures beside a baseline
# measured in the same run. Slow-marked soak tests run too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export XIAOER_DATA_DIR=${XIAOER_DATA_DIR:-$(mktemp -d)}
for bench in bench/*_bench.py; do
  echo "=== $bench"
  .venv/bin/python "$bench"
done
.venv/bin/python -m pytest -q -m slow
