"""Customer-list import benchmark (issue 11).

Imports N customers from a generated member export (GBK CSV, Chinese headers: member name, name,
phone, e-mail, province/city/district/address, gender, birthday, level, tags, total spent) with
``xiaoer customers import``'s code path, and loads the same file with a plain ``csv`` +
``bulk_create`` baseline (customers, their phone and address contacts, tags; one transaction a
batch of 1,000, as the import) in the same run:
rows/s and the ratio, best of --repeats, interleaved. The import child then imports the same file
again (idempotent: nothing new) and reports that time too.

    .venv/bin/python bench/customers_import_bench.py [--rows 100000] [--repeats 2]

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
HEADER = ["会员名", "姓名", "手机", "邮箱", "省", "市", "区", "详细地址", "性别", "生日", "会员等级", "标签", "累计消费"]
PLACES = [("浙江省", "杭州市", "西湖区"), ("广东省", "深圳市", "南山区"), ("江苏省", "南京市", "鼓楼区"),
          ("上海市", "上海市", "徐汇区"), ("四川省", "成都市", "武侯区")]
TAGS = ["老客", "高价值", "爱砍价", "学生", "宝妈", "退货多"]


def generate(path: Path, rows: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="gbk", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            province, city, district = rng.choice(PLACES)
            writer.writerow([
                f"tb_member_{i}", f"顾客{i % 9973}", f"13{i % 1000000000:09d}",
                f"m{i}@example.com" if i % 3 == 0 else "", province, city, district, f"某路 {i % 500} 号",
                rng.choice(["男", "女", ""]), f"19{70 + i % 30}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                f"VIP{1 + i % 5}", "、".join(rng.sample(TAGS, rng.randint(0, 2))), f"{rng.randint(0, 99999) / 10:.2f}"])


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
    from xiaoer.customers import importer

    shop = _shop("bench")
    started = time.perf_counter()
    report = importer.import_file(shop, path)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = importer.import_file(shop, path)
    return {"seconds": seconds, "imported": report.imported, "errors": len(report.errors),
            "again_seconds": time.perf_counter() - started, "again_imported": again.imported,
            "again_updated": again.updated}


def child_baseline(path: Path) -> dict:
    """The plainest load of the same file: csv.reader, no checks, bulk_create of customers,
    their phone and address contacts and tag links."""
    from django.db import transaction

    from xiaoer.customers.models import Customer, CustomerContact, CustomerTag, Tag

    shop = _shop("baseline")
    tags = {name: Tag.objects.create(shop=shop, name=name) for name in TAGS}
    started = time.perf_counter()
    count = 0
    with path.open(encoding="gbk", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch: list[tuple[Customer, list]] = []

        def flush() -> None:
            with transaction.atomic():  # one transaction a batch, as the import
                _insert(batch)
            batch.clear()

        def _insert(batch: list[tuple[Customer, list]]) -> None:
            Customer.objects.bulk_create([c for c, _ in batch], batch_size=500)  # SQLite returns the ids
            contacts, links = [], []
            for customer, r in batch:
                contacts.append(CustomerContact(shop_id=shop.pk, customer_id=customer.pk, kind="phone", value=r[2], is_default=True))
                contacts.append(CustomerContact(shop_id=shop.pk, customer_id=customer.pk, kind="address", is_default=True,
                                                value=f"{r[4]}{r[5]}{r[6]} {r[7]}", province=r[4], city=r[5],
                                                district=r[6]))
                links += [CustomerTag(shop_id=shop.pk, customer_id=customer.pk, tag_id=tags[t].pk) for t in r[11].split("、") if t]
            CustomerContact.objects.bulk_create(contacts, batch_size=1000)
            CustomerTag.objects.bulk_create(links, batch_size=1000)

        for r in reader:
            batch.append((Customer(shop_id=shop.pk, buyer_id=r[0], name=r[1], phone=r[2], email=r[3], city=r[5],
                                   address=f"{r[4]}{r[5]}{r[6]} {r[7]}", gender={"男": "male", "女": "female"}.get(r[8], "")),
                          r))
            count += 1
            if len(batch) >= 1000:
                flush()
        flush()
    return {"seconds": time.perf_counter() - started, "imported": count}


def run_child(mode: str, arg: str, scratch: Path) -> dict:
    data_dir = scratch / f"db-{mode}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    out = subprocess.run([sys.executable, __file__, "--child", mode, arg, "--data-dir", str(data_dir)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    shutil.rmtree(data_dir, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _secs(runs: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.1f}" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    if args.child:
        mode, arg = args.child
        _django(Path(args.data_dir))
        result = {"import": child_import, "baseline": child_baseline}[mode](Path(arg))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    scratch = Path(tempfile.mkdtemp(prefix="xiaoer-customers-bench-"))
    try:
        path = scratch / "members.csv"
        generate(path, args.rows)
        runs_imp, runs_base = [], []
        for _ in range(args.repeats):  # interleaved, best of: the machine is shared
            runs_imp.append(run_child("import", str(path), scratch))
            runs_base.append(run_child("baseline", str(path), scratch))
        imp = min(runs_imp, key=lambda r: r["seconds"])
        base = min(runs_base, key=lambda r: r["seconds"])
        n = args.rows
        print(f"{n} customers ({path.stat().st_size / 1e6:.1f} MB GBK CSV), best of {args.repeats}")
        print(f"  xiaoer import : {imp['seconds']:6.1f} s  {n / imp['seconds']:8.0f} rows/s  peak RSS "
              f"{imp['peak_rss_mb']:.0f} MB  imported {imp['imported']}, errors {imp['errors']}  "
              f"[runs: {_secs(runs_imp)} s]")
        print(f"  csv+bulk base : {base['seconds']:6.1f} s  {n / base['seconds']:8.0f} rows/s  peak RSS "
              f"{base['peak_rss_mb']:.0f} MB  [runs: {_secs(runs_base)} s]")
        print(f"  ratio import/baseline: {imp['seconds'] / base['seconds']:.2f}x")
        print(f"  re-import of the same file: {imp['again_seconds']:6.1f} s  {n / imp['again_seconds']:8.0f} rows/s  "
              f"imported {imp['again_imported']}, updated {imp['again_updated']}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
