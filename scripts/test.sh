#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it.
# Browser tests need Debian's chromium; PostgreSQL/Redis tests use 127.0.0.1 services when present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for browser tests..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null 2>&1 \
      || echo "could not install chromium: browser tests will be skipped"
  fi
fi
# The suite makes its own temporary data dir (xiaoer/test_settings.py); never ./var.
.venv/bin/ruff check xiaoer tests bench
exec .venv/bin/python -m pytest -q "$@"
