"""A campaign's sending process killed with SIGKILL (from outside midway, and inside a send's
transaction), then restarted as two Huey tasks on a real consumer: each customer got the
campaign exactly once. Real subprocesses on the embedded default (SQLite + SqliteHuey)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = [sys.executable, "-m", "xiaoer.aftersales.tests.campaign_probe"]
CUSTOMERS = 40


@pytest.fixture
def site(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "XIAOER_DATABASE_URL",
                                                            "XIAOER_REDIS_URL", "PROBE_SLOW", "PROBE_DIE_AT"}}
    env.update(XIAOER_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="xiaoer.settings", PYTHONPATH=str(ROOT),
               HUEY_IMMEDIATE="0")
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                   check=True, timeout=300)
    subprocess.run([*PROBE, "init", str(CUSTOMERS)], env=env, cwd=ROOT, check=True, timeout=60)
    return env, tmp_path


def _counts(data: Path) -> tuple[int, int, int]:
    """(claim rows, distinct customers claimed, revisit notices)."""
    with sqlite3.connect(data / "xiaoer.sqlite3", timeout=30) as db:
        claims, people = db.execute("SELECT count(*), count(DISTINCT customer_id) FROM aftersales_campaignsend").fetchone()
        notices = db.execute("SELECT count(*) FROM notify_notice WHERE key LIKE 'revisit-%'").fetchone()[0]
    return claims, people, notices


def test_campaign_killed_mid_send_and_restarted_sends_each_customer_once(site):
    env, data = site
    # 1. Killed from outside after a few sends.
    proc = subprocess.Popen([*PROBE, "run"], env={**env, "PROBE_SLOW": "0.2"}, cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        for _ in range(5):
            assert proc.stdout.readline().strip() == "sent"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    first = _counts(data)
    assert 5 <= first[0] < CUSTOMERS and first[0] == first[1] == first[2]

    # 2. Killed inside a send's transaction (claim and notice written, not committed).
    died = subprocess.run([*PROBE, "run"], env={**env, "PROBE_DIE_AT": "3"}, cwd=ROOT, timeout=60)
    assert died.returncode == -signal.SIGKILL
    second = _counts(data)
    assert second[0] == first[0] + 2 and second[0] == second[1] == second[2]  # the third send died whole

    # 3. Restart: the campaign's task queued twice, a real Huey consumer with two threads.
    subprocess.run([*PROBE, "enqueue", "2"], env=env, cwd=ROOT, check=True, timeout=60)
    worker = subprocess.Popen([*PROBE, "worker"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 90
        while _counts(data)[0] < CUSTOMERS and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)  # a duplicate, if any, would land now
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert _counts(data) == (CUSTOMERS, CUSTOMERS, CUSTOMERS)
