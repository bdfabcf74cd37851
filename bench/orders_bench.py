"""Orders benchmark (issue 4).

1. Import N platform-style orders (generated GBK CSV, Taobao headers with stray spaces) with
   ``xiaoer orders import``'s code path, and the same file with a plain ``csv`` + ``bulk_create``
   baseline, in the same run: rows/s, the ratio, peak memory (RSS of a fresh process per run).
   Memory must stay flat in the file size: the import runs at 20k and at N rows.
2. The payment-reminder sweep over N open (unpaid, due) orders, with SMS delivery through the
   console backend (logging off): seconds.

    .venv/bin/python bench/orders_bench.py [--rows 100000] [--small 20000]

Each measurement runs in a fresh process on a fresh SQLite database in a scratch directory
(XIAOER_DATA_DIR is set to it; nothing of the project's own data is touched).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["订单编号", "买家会员名 ", "总金额", " 买家实际支付金额", "订单状态", "收货人姓名", "收货地址 ",
          "联系手机", "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝总数量", "物流公司", "物流单号", "退款金额"]
STATUSES = ["等待买家付款", "买家已付款，等待卖家发货", "卖家已发货，等待买家确认", "交易成功", "交易关闭"]
PROVINCES = ["浙江省", "广东省", "江苏省", "上海", "北京", "四川省", "湖北省", "山东省"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="gbk", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            status = rng.choice(STATUSES)
            total = rng.randint(900, 99900) / 100
            paid = "" if status == "等待买家付款" else f"2025-11-{1 + i % 28:02d} 1{i % 10}:2{i % 6}:00"
            shipped = status in {"卖家已发货，等待买家确认", "交易成功"}
            writer.writerow([
                f"{3000000000000 + i}", f"tb{rng.randint(1, rows // 3)}", f"￥{total:,.2f}",
                "0.00" if not paid else f"{total:.2f}", status, "张三",
                f"{rng.choice(PROVINCES)} 某市 某区 某路 {i % 300} 号", f"138{i % 100000000:08d}",
                f"2025-11-{1 + i % 28:02d} 1{i % 10}:1{i % 6}:00", paid, f"纯棉T恤 款{i % 50} 尺码{'SMLX'[i % 4]}",
                str(1 + i % 3), "中通快递" if shipped else "", f"ZT{i:012d}" if shipped else "",
                "0.00"])


def _django(data_dir: Path) -> None:
    os.environ["XIAOER_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _shop(slug: str):
    from xiaoer.testing import make_shop

    return make_shop(slug)


def child_import(path: Path) -> dict:
    from xiaoer.orders import importer

    shop = _shop("bench")
    started = time.perf_counter()
    report = importer.import_file(shop, path)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "imported": report.imported, "errors": len(report.errors)}


def child_baseline(path: Path) -> dict:
    """The plainest load of the same file: csv.reader, minimal conversion, bulk_create."""
    import datetime as dt
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from xiaoer.orders.models import Order, OrderItem

    shop = _shop("baseline")
    tz = ZoneInfo(shop.timezone)
    started = time.perf_counter()
    count = 0
    with path.open(encoding="gbk", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch: list[tuple[Order, list]] = []

        def flush() -> None:
            Order.objects.bulk_create([o for o, _ in batch], batch_size=500)
            OrderItem.objects.bulk_create([OrderItem(order=o, title=r[10], quantity=int(r[11])) for o, r in batch],
                                          batch_size=1000)
            batch.clear()

        for r in reader:
            order = Order(shop=shop, order_no=r[0], total_amount=Decimal(r[2].lstrip("￥").replace(",", "")),
                          paid_amount=Decimal(r[3]), receiver_name=r[5], receiver_address=r[6],
                          receiver_phone=r[7], created_at=dt.datetime.fromisoformat(r[8]).replace(tzinfo=tz),
                          paid_at=dt.datetime.fromisoformat(r[9]).replace(tzinfo=tz) if r[9] else None,
                          carrier=r[12], tracking_no=r[13], status="paid")
            batch.append((order, r))
            count += 1
            if len(batch) >= 1000:
                flush()
        flush()
    return {"seconds": time.perf_counter() - started, "imported": count}


def child_sweep(rows: int) -> dict:
    import datetime as dt
    import logging

    from django.utils import timezone

    from xiaoer.orders import services
    from xiaoer.orders.models import Order

    logging.getLogger("xiaoer.sms").setLevel(logging.WARNING)
    shop = _shop("sweep")
    now = timezone.now()
    created = now - dt.timedelta(minutes=45)
    for start in range(0, rows, 5000):
        Order.objects.bulk_create([
            Order(shop=shop, order_no=f"S{i}", total_amount=10, created_at=created, receiver_phone=f"139{i:08d}")
            for i in range(start, min(rows, start + 5000))])
    # Daytime in the shop's zone, so quiet hours don't defer the sweep.
    from zoneinfo import ZoneInfo

    local_noon = now.astimezone(ZoneInfo(shop.timezone)).replace(hour=12, minute=0)
    Order.objects.filter(shop=shop).update(created_at=local_noon - dt.timedelta(minutes=45))
    started = time.perf_counter()
    reminded = services.run_reminder_sweep(now=local_noon)
    seconds = time.perf_counter() - started
    again_started = time.perf_counter()
    second = services.run_reminder_sweep(now=local_noon + dt.timedelta(minutes=1))
    from xiaoer.notify.models import Notice

    return {"seconds": seconds, "reminded": reminded, "second_run_reminded": second,
            "second_run_seconds": time.perf_counter() - again_started,
            "notices_sent": Notice.objects.filter(status="sent").count()}


def run_child(mode: str, arg: str, scratch: Path) -> dict:
    data_dir = scratch / f"db-{mode}-{Path(arg).name}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    out = subprocess.run([sys.executable, __file__, "--child", mode, arg, "--data-dir", str(data_dir)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    shutil.rmtree(data_dir, ignore_errors=True)
    return result


def _secs(runs: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.1f}" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--data-dir")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.child:
        mode, arg = args.child
        _django(Path(args.data_dir))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {"import": lambda: child_import(Path(arg)), "baseline": lambda: child_baseline(Path(arg)),
                  "sweep": lambda: child_sweep(int(arg))}[mode]()
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["baseline_rss_mb"] = before
        print(json.dumps(result))
        return

    scratch = Path(tempfile.mkdtemp(prefix="xiaoer-orders-bench-"))
    try:
        files = {}
        for n in sorted({args.small, args.rows}):
            files[n] = scratch / f"orders-{n}.csv"
            generate(files[n], n)
        results = {}
        for n, path in files.items():
            # Interleaved and best of --repeats: the machine is shared, and the load of other
            # processes must not decide the ratio.
            runs_imp, runs_base = [], []
            for _ in range(args.repeats):
                runs_imp.append(run_child("import", str(path), scratch))
                runs_base.append(run_child("baseline", str(path), scratch))
            imp = min(runs_imp, key=lambda r: r["seconds"])
            base = min(runs_base, key=lambda r: r["seconds"])
            imp["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs_imp)
            results[n] = (imp, base)
            print(f"{n:>7} rows ({path.stat().st_size / 1e6:.1f} MB GBK CSV), best of {args.repeats}")
            print(f"  xiaoer import : {imp['seconds']:6.1f} s  {n / imp['seconds']:8.0f} rows/s  "
                  f"peak RSS {imp['peak_rss_mb']:.0f} MB (of which {imp['baseline_rss_mb']:.0f} MB before "
                  f"the import)  imported {imp['imported']}, errors {imp['errors']}  "
                  f"[runs: {_secs(runs_imp)} s]")
            print(f"  csv+bulk base : {base['seconds']:6.1f} s  {n / base['seconds']:8.0f} rows/s  "
                  f"peak RSS {base['peak_rss_mb']:.0f} MB  [runs: {_secs(runs_base)} s]")
            print(f"  ratio import/baseline: {imp['seconds'] / base['seconds']:.2f}x", flush=True)
        if args.small in results and args.rows in results and args.small != args.rows:
            print(f"memory: import peak RSS {results[args.small][0]['peak_rss_mb']:.0f} MB at {args.small} rows, "
                  f"{results[args.rows][0]['peak_rss_mb']:.0f} MB at {args.rows} rows")
        if not args.skip_sweep:
            sweep = run_child("sweep", str(args.rows), scratch)
            print(f"reminder sweep over {args.rows} open orders: {sweep['seconds']:.1f} s "
                  f"(claimed + SMS delivered via console backend: {sweep['reminded']} reminded, "
                  f"{sweep['notices_sent']} sent), {args.rows / sweep['seconds']:.0f} orders/s; second run {sweep['second_run_seconds']:.2f} s, "
                  f"reminded {sweep['second_run_reminded']}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
