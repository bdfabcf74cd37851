"""A process killed with SIGKILL after its write committed (before its listeners were queued),
and one killed in the middle of a listener's delivery: after a restart, every durable listener
has handled each event exactly once. Real subprocesses on the embedded default (SQLite +
SqliteHuey), a real Huey consumer as the restarted worker."""

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
PROBE = [sys.executable, "-m", "xiaoer.events.tests.probe"]


@pytest.fixture
def site(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "XIAOER_DATABASE_URL",
                                                            "XIAOER_REDIS_URL", "PROBE_DIE_IN"}}
    env.update(XIAOER_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="xiaoer.settings", PYTHONPATH=str(ROOT),
               HUEY_IMMEDIATE="0")
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                   check=True, timeout=300)
    subprocess.run([*PROBE, "init"], env=env, cwd=ROOT, check=True, timeout=60)
    return env, tmp_path


def _db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "xiaoer.sqlite3", timeout=30)


def _handled(tmp_path: Path) -> list[tuple[str, int]]:
    with _db(tmp_path) as db:
        return sorted(db.execute("SELECT listener, n FROM events_probe_handled").fetchall())


def _queued_tasks(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "huey.sqlite3") as db:
        return db.execute("SELECT count(*) FROM task").fetchone()[0]


def test_sigkill_after_commit_and_during_delivery_then_restart_handles_each_event_once(site):
    env, data = site
    expected = [(name, n) for name in ("probe.a", "probe.b", "probe.c") for n in (1, 2)]

    # 1. Event 1 commits; the process is killed before its listeners are queued.
    proc = subprocess.Popen([*PROBE, "emit-and-hang", "1"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "committed"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    with _db(data) as db:
        assert db.execute("SELECT count(*) FROM events_outboxevent").fetchone()[0] == 1
    assert _queued_tasks(data) == 0  # nothing was queued: only the restart can deliver it

    # 2. Event 2 commits normally (its deliveries are queued); then a delivery run is killed
    #    after probe.b wrote its row, before that delivery transaction committed.
    subprocess.run([*PROBE, "emit", "2", "1"], env=env, cwd=ROOT, check=True, timeout=60)
    assert _queued_tasks(data) == 3
    died = subprocess.run([*PROBE, "deliver"], env={**env, "PROBE_DIE_IN": "probe.b"}, cwd=ROOT, timeout=60)
    assert died.returncode == -signal.SIGKILL
    assert _handled(data) == [("probe.a", 1), ("probe.a", 2)]  # probe.b's row died with its transaction

    # 3. Restart: a real Huey consumer catches up at start and runs the queued tasks.
    worker = subprocess.Popen([*PROBE, "worker", "--threads", "2"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 90
        while _handled(data) != expected and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)  # a duplicate, if any, would land now
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert _handled(data) == expected
    with _db(data) as db:
        # the probes' cursors (the apps' own durable listeners, e.g. chat.greet_on_assign, have theirs)
        cursors = dict(db.execute("SELECT name, handled FROM events_listenercursor WHERE name LIKE 'probe.%'")
                       .fetchall())
    assert cursors == {"probe.a": 2, "probe.b": 2, "probe.c": 2}
