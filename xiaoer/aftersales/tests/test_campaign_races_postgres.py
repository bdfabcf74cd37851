"""The revisit campaign's exactly-once claim on PostgreSQL (real concurrent writers; SQLite
serialises them): the `race` tests of test_campaign_races.py in a subprocess on the local
PostgreSQL (XIAOER_TEST_PG), the second with two Huey consumers on Redis. Skipped only when
PostgreSQL is absent or the suite already runs on it (docs/decisions/102)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xiaoer.testing import postgres_skip_reason, run_pytest_on_postgres

HERE = Path(__file__).resolve().parent


@pytest.mark.django_db
def test_campaign_races_on_postgresql():
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    out = run_pytest_on_postgres(str(HERE / "test_campaign_races.py"))
    assert re.search(r"\b2 passed\b", out), out[-2000:]
