#!/usr/bin/env bash
# Sets up xiaoer on this machine and runs the demo shop on the embedded default (SQLite, no servers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/xiaoer demo "$@"
