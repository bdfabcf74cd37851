"""After-sales benchmark (issue 12, reviews and revisit campaigns), on the embedded default
(SQLite, a fresh scratch directory per part; nothing of the project's data is touched).

1. Revisit campaign to --customers customers (SMS, no coupon): the sending process is SIGKILLed
   when about half are queued and restarted. Prints the **enqueue time** (claim + notice queued,
   both processes, without the killed process's start-up), the **queue rate** (customers/s), the
   **sending rate** (notices delivered per second by xiaoer/notify to the in-memory SMS backend), and
   the **duplicates** (claim rows minus distinct customers, plus notices minus customers; must be
   0). Baseline in the same run: a plain ``executemany`` of the same number of (campaign,
   customer) rows into a bare SQLite table with the same unique index.
2. Import of --reviews platform review rows (GBK CSV) with ``xiaoer reviews import``'s code path,
   beside a plain ``csv`` + ``bulk_create`` of the same rows into the Review table (no follow-ups,
   no lookups), each in a fresh process and database: rows/s and the ratio; then the re-import
   (idempotent: nothing new).

    .venv/bin/python bench/aftersales_bench.py [--customers 50000] [--reviews 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = [sys.executable, "-m", "xiaoer.aftersales.tests.campaign_probe"]
RATINGS = ["好评"] * 8 + ["中评", "差评", "5", "4星", "1", "★★★"]


def _env(data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(XIAOER_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="xiaoer.settings", PYTHONPATH=str(ROOT),
               HUEY_IMMEDIATE="0", XIAOER_SMS_BACKEND="xiaoer.notify.backends.LocmemSmsBackend")
    return env


def _migrate(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                   check=True)


def _counts(data: Path) -> tuple[int, int, int]:
    with sqlite3.connect(data / "xiaoer.sqlite3", timeout=60) as db:
        claims, people = db.execute("SELECT count(*), count(DISTINCT customer_id) FROM aftersales_campaignsend").fetchone()
        notices = db.execute("SELECT count(*) FROM notify_notice WHERE key LIKE 'revisit-%'").fetchone()[0]
    return claims, people, notices


def _run_until(env: dict, batch: int, stop_at: int | None) -> tuple[float, int]:
    """A run-all process; SIGKILLed once STOP_AT are queued. (seconds from its first progress line's
    pass start, approximated by the first line minus one pass, to its end; last progress)."""
    proc = subprocess.Popen([*PROBE, "run-all", str(batch)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    started, last, first_line = None, 0, None
    for line in proc.stdout:
        now = time.perf_counter()
        if first_line is None:
            first_line = now
        last = int(line.split()[1])
        if started is None:
            started = now
        if stop_at is not None and last >= stop_at:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    return (time.perf_counter() - (started or time.perf_counter())), last


def campaign(customers: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="xiaoer-bench-") as folder:
        data = Path(folder)
        env = _env(data)
        _migrate(env)
        subprocess.run([*PROBE, "init", str(customers)], env=env, cwd=ROOT, check=True)
        t0 = time.perf_counter()
        _run_until(env, batch, customers // 2)
        killed_at = _counts(data)[0]
        _run_until(env, batch, None)
        enqueue = time.perf_counter() - t0  # both processes, start-up included
        claims, people, notices = _counts(data)
        t1 = time.perf_counter()
        out = subprocess.run([*PROBE, "deliver"], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
        deliver = time.perf_counter() - t1
        delivered = int(out.stdout.split()[-1])
        base = _baseline_claims(data / "baseline.sqlite3", customers)
    return {"customers": customers, "killed_after": killed_at, "enqueue_s": round(enqueue, 2),
            "queued_per_s": round(customers / enqueue, 1), "delivered": delivered,
            "sending_per_s": round(delivered / deliver, 1), "duplicates": (claims - people) + (notices - people),
            "missing": customers - people, "baseline_insert_per_s": round(customers / base, 1),
            "ratio_to_baseline": round((customers / enqueue) / (customers / base), 3)}


def _baseline_claims(path: Path, customers: int) -> float:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE claim (id INTEGER PRIMARY KEY, campaign INTEGER, customer INTEGER, key TEXT, "
               "sent_at TEXT, UNIQUE (campaign, customer))")
    t0 = time.perf_counter()
    for start in range(0, customers, 1000):
        with db:
            db.executemany("INSERT INTO claim (campaign, customer, key, sent_at) VALUES (1, ?, ?, '2027-01-01')",
                           [(i, f"revisit-1-{i}") for i in range(start, min(customers, start + 1000))])
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed


# ---- reviews import -------------------------------------------------------------------------


def generate(path: Path, rows: int, seed: int = 12) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="gbk", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["订单编号", "买家昵称", "评价", "评价内容", "评价时间", "宝贝标题", "追评"])
        for i in range(rows):
            writer.writerow([f"R{i:09d}", f"tb_buyer_{i % 30011}", rng.choice(RATINGS), f"评价内容{i % 997}",
                             f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:00",
                             f"商品{i % 50}", "追评" if i % 10 == 0 else ""])


def child(mode: str, path: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from xiaoer.accounts.models import Shop
    from xiaoer.testing import make_shop

    shop = make_shop(slug="bench")
    shop = Shop.objects.get(pk=shop.pk)
    result = {}
    t0 = time.perf_counter()
    if mode == "import":
        from xiaoer.aftersales import reviews_import

        report = reviews_import.import_file(shop, path)
        result["seconds"] = time.perf_counter() - t0
        result["imported"], result["followups"] = report.imported, report.followups_opened
        t1 = time.perf_counter()
        again = reviews_import.import_file(shop, path)
        result["again_seconds"] = time.perf_counter() - t1
        result["again_imported"] = again.imported + again.updated + again.followups_opened
    else:
        result["seconds"], result["imported"] = _plain_load(shop, path), None
    print(json.dumps(result))


def _plain_load(shop, path: Path) -> float:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.db import transaction

    from xiaoer.aftersales.models import Review

    words = {"好评": "good", "中评": "medium", "差评": "bad"}
    tz = ZoneInfo("Asia/Shanghai")
    t0 = time.perf_counter()
    with path.open(encoding="gbk", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch = []
        for row in reader:
            rating = words.get(row[2], "good")
            batch.append(Review(shop=shop, order_no=row[0], buyer_id=row[1], rating=rating, first_rating=rating,
                                text=row[3], product=row[5], followup_text=row[6],
                                reviewed_at=dt.datetime.strptime(row[4], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)))
            if len(batch) >= 1000:
                with transaction.atomic():
                    Review.objects.bulk_create(batch)
                batch = []
        with transaction.atomic():
            Review.objects.bulk_create(batch)
    return time.perf_counter() - t0


def reviews(rows: int) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="xiaoer-bench-") as folder:
        path = Path(folder) / "reviews.csv"
        generate(path, rows)
        for mode in ("plain", "import"):
            data = Path(folder) / mode
            data.mkdir()
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], env=_env(data), cwd=ROOT,
                                 check=True, capture_output=True, text=True)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    imp, plain = results["import"], results["plain"]
    return {"rows": rows, "import_rows_per_s": round(rows / imp["seconds"], 1),
            "plain_rows_per_s": round(rows / plain["seconds"], 1),
            "ratio_to_plain": round(plain["seconds"] / imp["seconds"], 3), "followups_opened": imp["followups"],
            "reimport_seconds": round(imp["again_seconds"], 2), "reimport_new": imp["again_imported"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50000)
    parser.add_argument("--reviews", type=int, default=100000)
    parser.add_argument("--batch", type=int, default=1000, help="sends per campaign pass")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if args.customers:
        print("campaign", json.dumps(campaign(args.customers, args.batch), ensure_ascii=False), flush=True)
    if args.reviews:
        print("reviews ", json.dumps(reviews(args.reviews), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
