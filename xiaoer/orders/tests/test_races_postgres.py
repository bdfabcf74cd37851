"""The races docs/decisions/040 claims are harmless, run on PostgreSQL (real concurrent writers;
SQLite serializes them): every test marked `race` in the orders tests, in a subprocess on the
local PostgreSQL (XIAOER_TEST_PG, default 127.0.0.1:5432 db `test`). Skipped only when it is absent
or when the suite already runs on PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xiaoer.testing import postgres_skip_reason, run_pytest_on_postgres

HERE = Path(__file__).resolve().parent


@pytest.mark.django_db
def test_orders_races_on_postgresql():
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    out = run_pytest_on_postgres(str(HERE / "test_reminders.py"), str(HERE / "test_reminders_queue.py"),
                                 str(HERE / "test_workflow.py"))
    # two reminder sweeps at once, two Huey consumers on Redis, the confirmation-timeout winner
    assert re.search(r"\b3 passed\b", out), out[-2000:]
