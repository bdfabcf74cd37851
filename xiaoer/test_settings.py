"""Settings for the test suite (pyproject.toml points pytest-django here).

A plain `pytest` must never touch the demo's ./var (its database and task-queue file): unless the
caller chose a data directory, every run gets a fresh temporary one. It is put in the environment
before the real settings are read, so the servers and workers the tests start inherit it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if not os.environ.get("XIAOER_DATA_DIR"):
    _made = tempfile.mkdtemp(prefix="xiaoer-test-")
    os.environ["XIAOER_DATA_DIR"] = _made
    atexit.register(shutil.rmtree, _made, ignore_errors=True)

from xiaoer.settings import *  # noqa: E402,F403
