"""The merge races of crm (docs/decisions/151), run on PostgreSQL with real concurrent writers
(docs/decisions/102). Skipped only when PostgreSQL is absent or the suite already runs on it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xiaoer.testing import postgres_skip_reason, run_pytest_on_postgres

HERE = Path(__file__).resolve().parent


@pytest.mark.django_db
def test_crm_races_on_postgresql():
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    out = run_pytest_on_postgres(str(HERE / "test_identity.py"))
    assert re.search(r"\b1 passed\b", out), out[-2000:]
