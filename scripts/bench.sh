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
echo "=== bench/chat_bench.py --robot (the chat with the robot suggesting for every shopper message)"
.venv/bin/python bench/chat_bench.py --pairs 100 --rate 100 --duration 20 --robot
echo "=== bench/assistant_bench.py --encoder none (words only)"
.venv/bin/python bench/assistant_bench.py --encoder none
.venv/bin/python -m pytest -q -m slow
