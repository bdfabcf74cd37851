"""The refund bound under concurrent writers on PostgreSQL (SQLite serialises them): the tests
marked `race` of this app, in a subprocess on the local PostgreSQL (xiaoer.testing; skipped only
when PostgreSQL is absent or the suite already runs on it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xiaoer.testing import postgres_skip_reason, run_pytest_on_postgres

HERE = Path(__file__).resolve().parent


@pytest.mark.django_db
def test_refund_race_on_postgresql():
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    out = run_pytest_on_postgres(str(HERE / "test_refund_race.py"))
    assert re.search(r"\b1 passed\b", out), out[-2000:]
