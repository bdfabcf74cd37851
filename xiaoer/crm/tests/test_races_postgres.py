"""The exactly-once claims of coupons, questionnaires and birthday care on PostgreSQL (real
concurrent writers; SQLite serialises them): every test marked `race` in these modules, in a
subprocess on the local PostgreSQL (XIAOER_TEST_PG, default 127.0.0.1:5432 db `test`) — the
birthday one with two Huey consumers on Redis. Skipped only when PostgreSQL is absent or the suite
already runs on it (docs/decisions/102)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xiaoer.testing import postgres_skip_reason, run_pytest_on_postgres

HERE = Path(__file__).resolve().parent


@pytest.mark.django_db
def test_care_races_on_postgresql():
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    out = run_pytest_on_postgres(str(HERE / "test_coupons.py"), str(HERE / "test_questionnaires.py"),
                                 str(HERE / "test_birthday.py"))
    # coupons under a count limit, a double submit, two consumers greeting on Redis
    assert re.search(r"\b3 passed\b", out), out[-2000:]


@pytest.mark.django_db
def test_merge_races_on_postgresql():
    """Two merges of the same customers at once (docs/decisions/151)."""
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    out = run_pytest_on_postgres(str(HERE / "test_identity.py"))
    assert re.search(r"\b1 passed\b", out), out[-2000:]
