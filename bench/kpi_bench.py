"""KPI benchmark (issue 13), on the embedded default (SQLite) in a scratch data directory.

1. ``xiaoer chat import`` of a generated history (JSON Lines), beside a plain ``bulk_create`` of
   the same rows into another shop in the same run: messages/s and the ratio.
2. ``xiaoer kpi rebuild`` (a fresh process): seconds and peak RSS.
3. A 90-day report by seat and by person: p50/p99 over repeated runs (target p99 < 200 ms).
4. The listener's cost per chat batch at 1,000 msg/s: one second of traffic (100 writer batches of
   10 messages over 200 active buyers) through the writer's store path, then the real durable
   delivery of its events: listener seconds per second of traffic (< 1 keeps up) and per batch.

    .venv/bin/python bench/kpi_bench.py [--messages 100000] [--orders 20000] [--runs 30]

The issue's scale is --messages 1000000 --orders 200000.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAYS = 90
SEATS = 10
CN = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 8, 1, tzinfo=CN)


def generate(path: Path, messages: int, seed: int = 13) -> int:
    """History of about MESSAGES messages: buyers come on random days, write 1–3 messages, an agent
    (or the robot) answers after 5 s – 10 min. Returns the number of buyers."""
    rng = random.Random(seed)
    buyers = max(1, messages // 20)
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < messages:
            buyer = rng.randrange(buyers)
            seat = f"席位{buyer % SEATS}"
            when = START + dt.timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(8 * 3600, 23 * 3600))
            for _ in range(rng.randint(1, 3)):
                fh.write(json.dumps({"conversation": f"c{buyer}", "buyer": f"b{buyer}", "sender": "shopper",
                                     "text": "这件有货吗", "time": when.isoformat(),
                                     "product": f"P{buyer % 50}" if rng.random() < .3 else ""},
                                    ensure_ascii=False) + "\n")
                when += dt.timedelta(seconds=rng.randint(2, 40))
                written += 1
            when += dt.timedelta(seconds=rng.choice([5, 20, 45, 90, 200, 600]))
            sender = "robot" if rng.random() < .15 else "agent"
            fh.write(json.dumps({"conversation": f"c{buyer}", "buyer": f"b{buyer}", "sender": sender, "seat": seat,
                                 "staff": f"agent{buyer % SEATS}" if sender == "agent" else "", "text": "有的亲",
                                 "time": when.isoformat()}, ensure_ascii=False) + "\n")
            written += 1
    return buyers


def _django(data_dir: Path) -> None:
    os.environ["XIAOER_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _setup_shop(slug: str):
    from xiaoer.accounts.models import Role, Seat
    from xiaoer.knowledge.models import Product
    from xiaoer.testing import make_shop, make_staff

    shop = make_shop(slug)
    for i in range(SEATS):
        staff = make_staff(shop, Role.AGENT, username=f"agent{i}" if slug == "bench" else f"{slug}-agent{i}")
        Seat.objects.create(shop=shop, name=f"席位{i}", display_name=f"席位{i}", operator=staff)
    Product.objects.bulk_create([Product(shop=shop, code=f"P{i}", title=f"商品{i}") for i in range(50)])
    return shop


def bench_import(path: Path, lines: int) -> dict:
    from xiaoer.chat import history_import

    shop = _setup_shop("bench")
    t0 = time.perf_counter()
    report = history_import.import_file(shop, path)
    took = time.perf_counter() - t0
    return {"shop": shop, "seconds": took, "rate": report.imported / took, "imported": report.imported,
            "errors": len(report.errors), "lines": lines}


def bench_plain_insert(path: Path) -> dict:
    """The same rows with a plain bulk_create: customers and conversations first, then messages."""
    from django.db import transaction

    from xiaoer.chat.models import Conversation, Message
    from xiaoer.customers.models import Customer

    shop = _setup_shop("plain")
    seats = {s.name: s.pk for s in shop.seats.all()}
    t0 = time.perf_counter()
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    buyers = sorted({r["buyer"] for r in rows})
    Customer.objects.bulk_create([Customer(shop=shop, buyer_id=b) for b in buyers], batch_size=1000)
    cust = dict(Customer.objects.filter(shop=shop).values_list("buyer_id", "id"))
    Conversation.objects.bulk_create([Conversation(shop=shop, customer_id=c, status="resolved")
                                      for c in cust.values()], batch_size=1000)
    conv = dict(Conversation.objects.filter(shop=shop).values_list("customer_id", "id"))
    seq: dict[int, int] = {}
    for start in range(0, len(rows), 1000):
        batch = []
        for i, r in enumerate(rows[start:start + 1000], start=start):
            c = conv[cust[r["buyer"]]]
            seq[c] = seq.get(c, 0) + 1
            batch.append(Message(conversation_id=c, shop=shop, seq=seq[c], client_id=f"p{i}",
                                 sender_kind=r["sender"], body=r["text"], seat_id=seats.get(r.get("seat", "")),
                                 created_at=dt.datetime.fromisoformat(r["time"])))
        with transaction.atomic():
            Message.objects.bulk_create(batch)
    took = time.perf_counter() - t0
    return {"seconds": took, "rate": len(rows) / took}


def add_orders(shop, orders: int, buyers: int, seed: int = 5) -> float:
    from django.db import transaction

    from xiaoer.orders import services

    rng = random.Random(seed)
    t0 = time.perf_counter()
    for start in range(0, orders, 1000):
        rows = []
        for i in range(start, min(orders, start + 1000)):
            created = START + dt.timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(9 * 3600, 23 * 3600))
            paid = rng.random() < .7
            amount = Decimal(rng.randint(2000, 40000)) / 100
            row = {"order_no": f"O{i}", "buyer_id": f"b{rng.randrange(buyers)}", "created_at": created,
                   "total_amount": amount, "items": [{"title": f"商品{i % 50}", "sku": f"P{i % 50}", "quantity": 1,
                                                      "unit_price": amount}]}
            if paid:
                row.update(paid_at=created + dt.timedelta(minutes=5), paid_amount=amount)
            rows.append(row)
        with transaction.atomic():
            services.upsert_orders(shop, rows, source="import")
    return time.perf_counter() - t0


def bench_import_listener(budget: float) -> dict:
    """The listener on the import's events (one per 1,000 lines; it only notes dirty buyers), then
    the recompute of those buyers for BUDGET seconds; the rest is dropped: the rebuild that follows
    makes the projection current."""
    from xiaoer.events.testing import deliver_all
    from xiaoer.kpi import compute
    from xiaoer.kpi.models import Dirty

    t0 = time.perf_counter()
    events = deliver_all().get("kpi.rollups", 0)
    listener_s = time.perf_counter() - t0
    noted = Dirty.objects.count()
    t0 = time.perf_counter()
    buyers = compute.process_dirty(budget_seconds=budget)
    took = time.perf_counter() - t0
    Dirty.objects.all().delete()
    return {"events": events, "listener_ms_per_event": listener_s * 1000 / max(1, events), "noted": noted,
            "buyers": buyers, "ms_per_buyer": took * 1000 / max(1, buyers)}


def bench_rebuild(data_dir: Path) -> dict:
    env = dict(os.environ, XIAOER_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "xiaoer.cli", "kpi", "rebuild", "--shop", "bench"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": took, "peak_rss_mb": max(peak, before) / 1024}


def bench_report(shop, runs: int) -> dict:
    from xiaoer.kpi import report

    end = (START + dt.timedelta(days=DAYS - 1)).date()
    start = end - dt.timedelta(days=89)
    out = {}
    for by in ("seat", "staff"):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            report.report(shop, start, end, by=by)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out[by] = {"p50_ms": statistics.median(times), "p99_ms": times[min(len(times) - 1, int(.99 * len(times)))]}
    return out


def bench_listener(shop, buyers: int) -> dict:
    """One second of chat at 1,000 msg/s: 100 writer batches of 10 messages, then their delivery."""
    from django.db import connection, transaction
    from django.utils import timezone

    from xiaoer.chat import writer
    from xiaoer.chat.models import Conversation
    from xiaoer.events.testing import deliver_all
    from xiaoer.kpi import compute

    deliver_all()  # nothing is pending (bench_import_listener handled it): only the chat's are timed
    rng = random.Random(3)
    convs = list(Conversation.objects.filter(shop=shop).values_list("id", "seat_id")[:200])
    seats = list(shop.seats.values_list("id", "operator_id"))
    write_times = []
    for b in range(100):
        drafts = []
        for k in range(10):
            conv_id, _seat = rng.choice(convs)
            seat_id, staff_id = rng.choice(seats)
            shopper = rng.random() < .5
            drafts.append(writer.Draft(conv_id, shop.pk, f"bench-{b}-{k}", "shopper" if shopper else "agent", "text",
                                       False, None if shopper else seat_id, None if shopper else staff_id,
                                       "你好", {}))
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            writer.store_batch(cur, connection.vendor, drafts)
        write_times.append(time.perf_counter() - t0)
    del timezone
    t0 = time.perf_counter()
    handled = deliver_all().get("kpi.rollups", 0)
    took = time.perf_counter() - t0
    t0 = time.perf_counter()
    buyers = compute.process_dirty()
    processing = time.perf_counter() - t0
    return {"batches": handled, "listener_ms_per_batch": took * 1000 / max(1, handled),
            "processing_s": processing, "buyers": buyers, "writer_ms_per_batch": statistics.median(write_times) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--import-budget", type=float, default=30.0, help="seconds of listener on the import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kpi-bench-") as tmp:
        data_dir = Path(tmp)
        _django(data_dir)
        path = data_dir / "history.jsonl"
        buyers = generate(path, args.messages)
        lines = sum(1 for _ in path.open(encoding="utf-8"))
        print(f"history: {lines} messages, {buyers} buyers over {DAYS} days; {args.orders} orders")
        imp = bench_import(path, lines)
        plain = bench_plain_insert(path)
        print(f"chat import      {imp['rate']:10.0f} msg/s ({imp['seconds']:.1f} s, {imp['errors']} errors)")
        print(f"plain bulk insert{plain['rate']:10.0f} msg/s ({plain['seconds']:.1f} s)   import/plain = "
              f"{imp['rate'] / plain['rate']:.2f}")
        print(f"orders upsert    {add_orders(imp['shop'], args.orders, buyers):10.1f} s")
        lis_imp = bench_import_listener(args.import_budget)
        print(f"listener on the import: {lis_imp['events']} events (incl. orders), "
              f"{lis_imp['listener_ms_per_event']:.1f} ms each; recompute {lis_imp['buyers']} of "
              f"{lis_imp['noted']} noted buyers in the budget: {lis_imp['ms_per_buyer']:.1f} ms a buyer")
        reb = bench_rebuild(data_dir)
        print(f"kpi rebuild      {reb['seconds']:10.1f} s, peak RSS {reb['peak_rss_mb']:.0f} MB (fresh process)")
        rep = bench_report(imp["shop"], args.runs)
        for by, figures in rep.items():
            print(f"90-day report by {by:5s}: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms "
                  f"(target p99 < 200 ms)")
        lis = bench_listener(imp["shop"], buyers)
        print(f"listener: {lis['batches']} batches of 10 msgs (1 s at 1,000 msg/s): "
              f"{lis['listener_ms_per_batch']:.2f} ms a batch in the delivery transaction (writer: "
              f"{lis['writer_ms_per_batch']:.2f} ms a batch); recompute of the {lis['buyers']} buyers: "
              f"{lis['processing_s']:.2f} s per second of traffic")


if __name__ == "__main__":
    main()
