"""Domain events benchmark (issue 9): N events through three durable listeners.

    .venv/bin/python bench/events_bench.py [--events 100000] [--pg | --no-pg] [--threads 2] [--emitters K]

For each setup — the embedded default (SQLite, SqliteHuey, consumer threads in the same process,
as under ``xiaoer serve``) and, when reachable (or with --pg), PostgreSQL + Redis (RedisHuey,
one worker process like ``xiaoer run_huey``) — on a fresh database, in one run:

1. baseline "plain": N transactions each inserting one domain row, no event;
2. baseline "inline": the same, plus the three listeners' writes called inline in the transaction
   (what a non-durable design costs on the write path);
3. "events": the same row plus ``emit()`` (one outbox row); the three durable listeners (each
   inserts one row, in the delivery transaction, see xiaoer/events/tests/probe.py) run from the
   outbox on the task queue while the writes go on. Reported: the write rate, the end-to-end
   events/s (N events, each handled by all three listeners, from the first write to the last
   handling), and the lag from commit to handled (p50/p99/max; clock read just before commit);
4. "paced": N/5 events at half the end-to-end rate of 3: the lag when the queue keeps up.

Writes come from one thread on SQLite (its writes are serial anyway) and from 8 threads on
PostgreSQL (many app processes write at once there; one thread would measure the commit's fsync).
Ratios against the baselines are printed. Nothing of the project's own data is touched (fresh
XIAOER_DATA_DIR, a throwaway PostgreSQL database, a unique Huey queue name on Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("XIAOER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("XIAOER_TEST_REDIS", "redis://127.0.0.1:6379/15")


# --- child: one setup, one process ------------------------------------------------------------

def _write_loop(n: int, first: int, body, rate: float = 0.0) -> float:
    """N transactions running BODY(n); returns seconds. RATE > 0 paces them (open loop)."""
    from django.db import transaction

    start = time.perf_counter()
    for i in range(n):
        if rate:
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
        with transaction.atomic():
            body(first + i)
    return time.perf_counter() - start


def _write_threads(k: int, n: int, first: int, body, rate: float = 0.0) -> float:
    """_write_loop split over K threads (own connections), N/K transactions each; seconds."""
    if k == 1:
        return _write_loop(n, first, body, rate)
    from django.db import connection

    def run(j: int) -> None:
        try:
            _write_loop(n // k, first + j * (n // k), body, rate / k)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(j,)) for j in range(k)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def _insert_row(cur, n: int) -> None:
    cur.execute("INSERT INTO bench_write (shop_id, n) VALUES (%s, %s)", [1, n])


def _wait_handled(expected: int, timeout: float) -> float:
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM events_probe_handled")
            done = cur.fetchone()[0]
        if done >= expected or time.monotonic() > deadline:
            return time.perf_counter() if done >= expected else float("nan")
        time.sleep(0.02)


def _lags(since_n: int) -> list[float]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT lag FROM events_probe_handled WHERE n >= %s", [since_n])
        return sorted(r[0] for r in cur.fetchall())


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def child(mode: str, n: int, threads: int, emitters: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from xiaoer.events import emit
    from xiaoer.events.tests import probe

    call_command("migrate", interactive=False, verbosity=0)
    probe.create_table()
    probe.install()
    serial = "BIGSERIAL PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    with connection.cursor() as cur:
        cur.execute(f"CREATE TABLE bench_write (id {serial}, shop_id BIGINT, n BIGINT)")
    n -= n % emitters
    result: dict = {"mode": mode, "events": n, "emitters": emitters}

    def plain(i: int) -> None:
        with connection.cursor() as cur:
            _insert_row(cur, i)

    def inline(i: int) -> None:
        plain(i)
        event = probe.ProbeHappened(shop_id=1, n=i, at=time.time())
        for name in probe.LISTENERS:
            probe.record(name, event)

    def with_event(i: int) -> None:
        plain(i)
        emit(probe.ProbeHappened(shop_id=1, n=i, at=time.time()))

    result["plain_writes_s"] = n / _write_threads(emitters, n, 0, plain)
    result["inline_writes_s"] = n / _write_threads(emitters, n, 0, inline)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM events_probe_handled")

    worker = _start_worker(mode, threads)
    try:
        t0 = time.perf_counter()
        seconds = _write_threads(emitters, n, 1_000_000, with_event)
        done = _wait_handled(3 * n, timeout=max(600, n / 50))
        result["event_writes_s"] = n / seconds
        result["end_to_end_events_s"] = n / (done - t0)
        lags = _lags(1_000_000)
        result["lag_ms"] = {"p50": _pct(lags, 0.5), "p99": _pct(lags, 0.99), "max": _pct(lags, 1.0)}

        paced_n = max(emitters, n // 5 - n // 5 % emitters)
        rate = result["end_to_end_events_s"] / 2
        _write_threads(emitters, paced_n, 2_000_000, with_event, rate=rate)
        _wait_handled(3 * (n + paced_n), timeout=max(600, n / 50))
        lags = _lags(2_000_000)
        result["paced"] = {"events": paced_n, "rate_s": rate,
                           "lag_ms": {"p50": _pct(lags, 0.5), "p99": _pct(lags, 0.99), "max": _pct(lags, 1.0)}}
        with connection.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT listener || ':' || n) FROM events_probe_handled")
            rows, distinct = cur.fetchone()
        result["handled_rows"], result["duplicates"] = rows, rows - distinct
    finally:
        worker()
    return result


def _start_worker(mode: str, threads: int):
    """The delivery workers: consumer threads in this process (embedded), or one worker process."""
    if mode == "sqlite":
        from huey.contrib.djhuey import HUEY

        from xiaoer.tasks_runtime import polling_options

        consumer = HUEY.create_consumer(workers=threads, worker_type="thread", periodic=True,
                                        check_worker_health=False, **polling_options())
        consumer._set_signal_handlers = lambda: None
        consumer.start()
        return lambda: consumer.stop(graceful=True)
    proc = subprocess.Popen([sys.executable, "-m", "xiaoer.events.tests.probe", "worker", "--threads", str(threads)],
                            cwd=ROOT, env=os.environ.copy())

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=30)

    return stop


# --- parent -----------------------------------------------------------------------------------

def _pg_available() -> str | None:
    try:
        import psycopg
        import redis

        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        redis.Redis.from_url(REDIS, socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"{exc.__class__.__name__}: {exc}"
    return None


def run(mode: str, n: int, threads: int, emitters: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="events-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "XIAOER_DATABASE_URL",
                                                                "XIAOER_REDIS_URL"}}
        env.update(XIAOER_DATA_DIR=tmp, DJANGO_SETTINGS_MODULE="xiaoer.settings", PYTHONPATH=str(ROOT),
                   HUEY_IMMEDIATE="0", LOG_LEVEL="WARNING")
        db = None
        if mode == "pg":
            import psycopg

            db = f"xiaoer_evbench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{db}"')
            env.update(DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{db}", REDIS_URL=REDIS, HUEY_NAME=db)
        try:
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--events", str(n), "--threads",
                                  str(threads), "--emitters", str(emitters)],
                                 env=env, cwd=ROOT, check=True, capture_output=True, text=True)
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            if db:
                import psycopg
                import redis

                client = redis.Redis.from_url(REDIS)
                for key in client.scan_iter(f"huey.*{db}*"):
                    client.delete(key)
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def report(r: dict) -> None:
    name = {"sqlite": "embedded (SQLite + SqliteHuey, consumer threads in-process)",
            "pg": "scaled out (PostgreSQL + Redis, one worker process)"}[r["mode"]]
    lag, paced = r["lag_ms"], r["paced"]
    print(f"\n== {name}: {r['events']:,} events x 3 durable listeners, {r['emitters']} writing thread(s)")
    print(f"  baseline plain writes        {r['plain_writes_s']:9,.0f} /s")
    print(f"  baseline inline listeners    {r['inline_writes_s']:9,.0f} /s")
    print(f"  writes + emit (outbox row)   {r['event_writes_s']:9,.0f} /s   "
          f"{r['event_writes_s'] / r['plain_writes_s']:.2f}x plain, {r['event_writes_s'] / r['inline_writes_s']:.2f}x inline")
    print(f"  end to end (all 3 handled)   {r['end_to_end_events_s']:9,.0f} events/s   "
          f"{r['end_to_end_events_s'] / r['inline_writes_s']:.2f}x inline")
    print(f"  lag at full speed            p50 {lag['p50']:,.0f} ms  p99 {lag['p99']:,.0f} ms  max {lag['max']:,.0f} ms")
    print(f"  lag paced at {paced['rate_s']:,.0f}/s ({paced['events']:,} events)  p50 {paced['lag_ms']['p50']:,.0f} ms  "
          f"p99 {paced['lag_ms']['p99']:,.0f} ms  max {paced['lag_ms']['max']:,.0f} ms")
    print(f"  handled rows {r['handled_rows']:,} (expected {3 * (r['events'] + paced['events']):,}), "
          f"duplicates {r['duplicates']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2, help="consumer worker threads (HUEY_WORKERS)")
    parser.add_argument("--emitters", type=int, default=0,
                        help="writing threads (default: 1 on SQLite, whose writes are serial; 8 on PostgreSQL)")
    pg = parser.add_mutually_exclusive_group()
    pg.add_argument("--pg", action="store_true", help="require PostgreSQL + Redis")
    pg.add_argument("--no-pg", action="store_true", help="embedded only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(args.child, args.events, args.threads, args.emitters)))
        return
    modes = ["sqlite"]
    if not args.no_pg:
        reason = _pg_available()
        if reason is None:
            modes.append("pg")
        elif args.pg:
            raise SystemExit(f"--pg: PostgreSQL/Redis not reachable ({reason})")
        else:
            print(f"(PostgreSQL + Redis skipped: {reason})")
    for mode in modes:
        report(run(mode, args.events, args.threads, args.emitters or (8 if mode == "pg" else 1)))


if __name__ == "__main__":
    main()
