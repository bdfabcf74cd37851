"""Two Huey consumer processes at once on PostgreSQL + Redis (127.0.0.1), fed by two emitting
processes, one of which holds some transactions open after taking its outbox id: 1,200 events,
each handled exactly once by each of three durable listeners, in each emitter's order. Skipped,
with the reason, only when PostgreSQL or Redis is not reachable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = [sys.executable, "-m", "xiaoer.events.tests.probe"]
PG_ADMIN = os.environ.get("XIAOER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("XIAOER_TEST_REDIS", "redis://127.0.0.1:6379/15")
PER_EMITTER = 600


def _skip_reason() -> str | None:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {PG_ADMIN}: {exc.__class__.__name__}"
    try:
        import redis

        redis.Redis.from_url(REDIS, socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis not reachable at {REDIS}: {exc.__class__.__name__}"
    return None


@pytest.fixture
def scaled_out(tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    import psycopg
    import redis

    name = f"xiaoer_ev_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    env = {k: v for k, v in os.environ.items() if k not in {"XIAOER_DATABASE_URL", "XIAOER_REDIS_URL", "PROBE_DIE_IN"}}
    env.update(DATABASE_URL=url, REDIS_URL=REDIS, HUEY_NAME=name, HUEY_IMMEDIATE="0", XIAOER_DATA_DIR=str(tmp_path),
               DJANGO_SETTINGS_MODULE="xiaoer.settings", PYTHONPATH=str(ROOT))
    try:
        subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                       check=True, timeout=300)
        subprocess.run([*PROBE, "init"], env=env, cwd=ROOT, check=True, timeout=60)
        yield env, url
    finally:
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(f"huey.*{name}*"):
            client.delete(key)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(url: str) -> list[tuple[str, int, str, int]]:
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT listener, n, source, pid FROM events_probe_handled ORDER BY seq").fetchall()


def test_two_workers_on_postgresql_and_redis_handle_each_event_once_per_listener(scaled_out):
    env, url = scaled_out
    workers = [subprocess.Popen([*PROBE, "worker", "--threads", "2"], env=env, cwd=ROOT) for _ in range(2)]
    try:
        emitters = [subprocess.Popen([*PROBE, "emit", "1", str(PER_EMITTER), "--slow-every", "25"], env=env, cwd=ROOT),
                    subprocess.Popen([*PROBE, "emit", "100001", str(PER_EMITTER)], env=env, cwd=ROOT)]
        for proc in emitters:
            assert proc.wait(timeout=300) == 0
        expected = 3 * 2 * PER_EMITTER
        deadline = time.monotonic() + 240
        while len(_rows(url)) < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # a duplicate, if any, would land now
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGINT)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    rows = _rows(url)
    every = set(range(1, PER_EMITTER + 1)) | set(range(100001, 100001 + PER_EMITTER))
    for listener in ("probe.a", "probe.b", "probe.c"):
        mine = [r for r in rows if r[0] == listener]
        counts = Counter(n for _, n, _, _ in mine)
        assert set(counts) == every, f"{listener} missed {len(every - set(counts))} events"
        assert max(counts.values()) == 1, f"{listener} handled {sum(c > 1 for c in counts.values())} events twice"
        for source in ("emitter1", "emitter100001"):  # each emitter's commits, in its order
            ns = [n for _, n, s, _ in mine if s == source]
            assert ns == sorted(ns)
    assert len({pid for *_, pid in rows}) == 2  # both workers took part
