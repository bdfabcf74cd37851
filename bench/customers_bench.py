"""Customers benchmark (issue 11): value + RFM over a shop's whole history.

    .venv/bin/python bench/customers_bench.py [--customers 50000,100000,200000] [--orders-per-customer 5]

For each size, in a fresh scratch data directory on the embedded default (SQLite):

1. **generate** (its own process): C customers and 5·C orders of one shop, by bulk inserts
   (random buyers — some have none —, payments over two years, 5 % partly and 3 % fully refunded,
   10 % unpaid);
2. **measure** (a fresh process, so its peak memory is the measurement's alone):
   - baseline: one plain SQL ``GROUP BY buyer_id`` aggregate over the same orders (count, sum,
     min, max of the paid ones), every row fetched;
   - ``xiaoer customers recompute``'s code (``crm.rfm.rebuild``): value, level and the RFM
     snapshot of every buyer written into ``CustomerValue``; seconds and peak RSS (VmHWM);
   - the incremental update per order event: the ``crm.customer_value`` listener's handler on an
     ``OrderPaid`` of one order, each in its own transaction (p50, p99 over 1,000 random orders),
     beside the same plain aggregate for one buyer (the baseline), and on a batch event of 1,000
     orders (an import batch).

Peak memory must stay flat as C grows (the rebuild streams). The machine may be shared: figures
are noisy; the ratios are measured in the same process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _django(data_dir: Path, *, migrate: bool) -> None:
    os.environ["XIAOER_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_generate(customers: int, per_customer: int, seed: int = 11) -> dict:
    from django.db import connection, transaction

    from xiaoer.customers.models import Customer
    from xiaoer.orders.models import Order
    from xiaoer.testing import make_shop

    rng = random.Random(seed)
    shop = make_shop("bench")
    started = time.perf_counter()
    with transaction.atomic():
        for start in range(0, customers, 10_000):
            Customer.objects.bulk_create([Customer(shop=shop, buyer_id=f"tb{i}", name=f"顾客{i}")
                                          for i in range(start, min(customers, start + 10_000))], batch_size=2000)
    ids = list(Customer.objects.filter(shop=shop).order_by("pk").values_list("pk", flat=True))
    template = Order(shop=shop, order_no="", created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    fields = [f for f in Order._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    fixed = {f.column: f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields}
    varying = ("order_no", "buyer_id", "status", "total_amount", "paid_amount", "refunded_amount", "created_at",
               "paid_at", "updated_at")
    sql = (f"INSERT INTO orders_order ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})")
    epoch = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    total = customers * per_customer
    with connection.cursor() as cursor:
        # A bulk load: the order indexes are dropped and built again after (random buyer ids make
        # every insert touch random index pages otherwise).
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders_order' "
                       "AND sql IS NOT NULL")
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for start in range(0, total, 20_000):
            rows = []
            for n in range(start, min(total, start + 20_000)):
                # Skewed: a few buyers order often, many once, some never.
                buyer = ids[min(len(ids) - 1, int(rng.paretovariate(1.2) * len(ids) / 8) % len(ids))] \
                    if rng.random() < 0.3 else rng.choice(ids)
                amount = rng.randint(990, 99900) / 100
                created = epoch + dt.timedelta(seconds=rng.randint(0, 730 * 86400))
                luck = rng.random()
                paid_at = None if luck < 0.10 else created + dt.timedelta(minutes=rng.randint(1, 120))
                refunded = amount if 0.10 <= luck < 0.13 else round(amount * 0.3, 2) if 0.13 <= luck < 0.18 else 0
                status = "unpaid" if paid_at is None else "closed" if refunded == amount else "completed"
                values = dict(fixed, order_no=f"{4000000000000 + n}", buyer_id=buyer, status=status,
                              total_amount=f"{amount:.2f}", paid_amount=f"{amount:.2f}" if paid_at else "0",
                              refunded_amount=f"{refunded:.2f}",
                              created_at=created.strftime("%Y-%m-%d %H:%M:%S"),
                              paid_at=paid_at.strftime("%Y-%m-%d %H:%M:%S") if paid_at else None,
                              updated_at=created.strftime("%Y-%m-%d %H:%M:%S"))
                rows.append(tuple(values[c] for c in columns))
            with transaction.atomic():
                cursor.executemany(sql, rows)
        for _, create in indexes:
            cursor.execute(create)
    assert set(varying) <= set(columns)
    return {"customers": customers, "orders": total, "seconds": time.perf_counter() - started}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def child_measure(samples: int = 1000) -> dict:
    from django.db import connection, transaction

    from xiaoer.accounts.models import Shop
    from xiaoer.crm import rfm
    from xiaoer.crm.models import CustomerValue
    from xiaoer.crm.value import on_orders
    from xiaoer.orders.events import OrderPaid
    from xiaoer.orders.models import Order

    shop = Shop.objects.get(slug="bench")
    rss_ready = current_rss_mb()
    group_by = ("SELECT buyer_id, COUNT(*), SUM(paid_amount - refunded_amount), MIN(paid_at), MAX(paid_at) "
                "FROM orders_order WHERE shop_id = %s AND paid_at IS NOT NULL AND buyer_id IS NOT NULL "
                "GROUP BY buyer_id")
    started, cpu = time.perf_counter(), time.process_time()
    with connection.cursor() as cursor:
        cursor.execute(group_by, [shop.pk])
        baseline_rows = sum(1 for _ in iter(cursor.fetchone, None))
    baseline_seconds, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_after_baseline = peak_rss_mb()

    started, cpu = time.perf_counter(), time.process_time()
    written = rfm.rebuild(shop)
    rebuild_seconds, rebuild_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_peak = peak_rss_mb()

    from xiaoer.crm import export

    started, cpu = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as sink:
        exported = export.write(shop, rfm.today(shop), "csv", sink)
    export_seconds, export_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_peak_export = peak_rss_mb()
    segments = dict(CustomerValue.objects.filter(shop=shop).exclude(rfm_segment="")
                    .values_list("rfm_segment").annotate(n=__import__("django").db.models.Count("pk")))

    rng = random.Random(5)
    order_ids = list(Order.objects.filter(shop=shop).values_list("pk", flat=True)[:200_000])
    picks = rng.sample(order_ids, samples)
    handler, plain = [], []
    one_buyer = ("SELECT COUNT(*), SUM(paid_amount - refunded_amount), MIN(paid_at), MAX(paid_at) "
                 "FROM orders_order WHERE buyer_id = %s AND paid_at IS NOT NULL")
    buyers = dict(Order.objects.filter(pk__in=picks).values_list("pk", "buyer_id"))
    for order_id in picks:
        begin = time.perf_counter()
        with transaction.atomic():
            on_orders(OrderPaid(shop_id=shop.pk, order_ids=[order_id]))
        handler.append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(one_buyer, [buyers[order_id]])
            cursor.fetchall()
        plain.append((time.perf_counter() - begin) * 1000)
    # As delivery runs it: up to EVENTS_BATCH events per transaction, one commit for the batch.
    in_batch = []
    for start in range(0, len(picks), 100):
        with transaction.atomic():
            for order_id in picks[start:start + 100]:
                begin = time.perf_counter()
                on_orders(OrderPaid(shop_id=shop.pk, order_ids=[order_id]))
                in_batch.append((time.perf_counter() - begin) * 1000)
    batch_times = []
    for _ in range(5):
        batch = rng.sample(order_ids, 1000)
        begin = time.perf_counter()
        with transaction.atomic():
            on_orders(OrderPaid(shop_id=shop.pk, order_ids=batch))
        batch_times.append((time.perf_counter() - begin) * 1000)
    return {
        "baseline_group_by_seconds": baseline_seconds, "baseline_rows": baseline_rows,
        "rebuild_seconds": rebuild_seconds, "written": written, "segments": segments,
        "baseline_cpu_seconds": baseline_cpu, "rebuild_cpu_seconds": rebuild_cpu,
        "export_seconds": export_seconds, "export_cpu_seconds": export_cpu, "exported": exported,
        "rss_peak_after_export_mb": rss_peak_export,
        "rss_ready_mb": rss_ready, "rss_peak_after_baseline_mb": rss_after_baseline, "rss_peak_mb": rss_peak,
        "event_ms_p50": statistics.median(handler), "event_ms_p99": _percentile(handler, 0.99),
        "plain_ms_p50": statistics.median(plain), "plain_ms_p99": _percentile(plain, 0.99),
        "in_batch_ms_p50": statistics.median(in_batch), "in_batch_ms_p99": _percentile(in_batch, 0.99),
        "batch1000_ms_median": statistics.median(batch_times),
    }


def run_child(mode: str, args: list[str], data_dir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--data-dir", str(data_dir), *args],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", default="50000,100000,200000")
    parser.add_argument("--orders-per-customer", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--child")
    parser.add_argument("--data-dir")
    parser.add_argument("--size", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        _django(Path(args.data_dir), migrate=args.child == "generate")
        if args.child == "generate":
            result = child_generate(args.size, args.orders_per_customer)
        else:
            result = child_measure(args.samples)
        print(json.dumps(result, ensure_ascii=False))
        return

    scratch = Path(tempfile.mkdtemp(prefix="xiaoer-customers-bench-"))
    try:
        print("customers  orders     gen s  GROUP BY s  rebuild s  ratio  RSS ready→peak MB  "
              "event p50/p99 ms  plain p50/p99 ms  batch of 1000 ms")
        for size in [int(x) for x in args.customers.split(",")]:
            data_dir = scratch / f"db-{size}"
            data_dir.mkdir()
            gen = run_child("generate", ["--size", str(size), "--orders-per-customer",
                                         str(args.orders_per_customer)], data_dir)
            m = run_child("measure", ["--samples", str(args.samples)], data_dir)
            print(f"{size:>9,}  {gen['orders']:>9,}  {gen['seconds']:>5.0f}  {m['baseline_group_by_seconds']:>10.2f}  "
                  f"{m['rebuild_seconds']:>9.2f}  {m['rebuild_seconds'] / m['baseline_group_by_seconds']:>5.1f}  "
                  f"{m['rss_ready_mb']:>7.0f} → {m['rss_peak_mb']:>5.0f}      "
                  f"{m['event_ms_p50']:>6.2f} / {m['event_ms_p99']:<6.2f}   "
                  f"{m['plain_ms_p50']:>5.2f} / {m['plain_ms_p99']:<5.2f}    {m['batch1000_ms_median']:>8.0f}",
                  flush=True)
            print(f"           event inside a delivery batch of 100 (one commit): p50 {m['in_batch_ms_p50']:.2f} ms, "
                  f"p99 {m['in_batch_ms_p99']:.2f} ms", flush=True)
            print(f"           CPU s: GROUP BY {m['baseline_cpu_seconds']:.2f}, rebuild {m['rebuild_cpu_seconds']:.2f}; "
                  f"export csv of {m['exported']:,} customers {m['export_seconds']:.2f} s "
                  f"(CPU {m['export_cpu_seconds']:.2f}), peak RSS after it {m['rss_peak_after_export_mb']:.0f} MB",
                  flush=True)
            print("           " + json.dumps({"written": m["written"], "segments": m["segments"]}, ensure_ascii=False),
                  flush=True)
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
