"""``xiaoer customers <subcommand>`` (docs/customers.md "Commands").

    export --shop SHOP [--as-of DATE] --format jsonl|csv|xlsx [--output FILE]
    recompute --shop SHOP
    import FILE --shop SHOP [--mapping M] [--json]

Each subcommand is (add its arguments, run it) in SUBCOMMANDS: a new one adds one entry."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from xiaoer.accounts.models import Shop


def _shop(slug: str) -> Shop:
    try:
        return Shop.objects.get(slug=slug)
    except Shop.DoesNotExist:
        raise CommandError(f"没有这个店铺: {slug}") from None


def _bar(total: int | None, quiet: bool, unit: str):
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


def export_arguments(parser) -> None:
    from xiaoer.crm.export import FORMATS

    parser.add_argument("--shop", required=True, help="店铺标识 (slug)")
    parser.add_argument("--as-of", help="截至日期 YYYY-MM-DD (店铺时区；默认今天)")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--output", "-o", help="输出文件 (默认标准输出；xlsx 必须给文件)")
    parser.add_argument("--quiet", action="store_true", help="不显示进度条")


def export(command: BaseCommand, options: dict) -> None:
    from xiaoer.crm import export as exporting
    from xiaoer.crm import rfm

    shop = _shop(options["shop"])
    try:
        as_of = dt.date.fromisoformat(options["as_of"]) if options.get("as_of") else rfm.today(shop)
    except ValueError:
        raise CommandError(f"日期格式不对: {options['as_of']} (YYYY-MM-DD)") from None
    fmt, output = options["format"], options.get("output")
    if fmt == "xlsx" and not output:
        raise CommandError("xlsx 必须用 --output 指定文件")
    quiet = options["quiet"] or not output
    bar = _bar(None if quiet else shop.customers.filter(merged_into__isnull=True).count(), quiet, "顾客")
    progress = bar.update if bar is not None else None
    try:
        if output:
            mode = {"mode": "wb"} if fmt == "xlsx" else {"mode": "w", "encoding": "utf-8-sig" if fmt == "csv" else "utf-8",
                                                          "newline": ""}
            with open(output, **mode) as out:
                count = exporting.write(shop, as_of, fmt, out, progress=progress)
        else:
            count = exporting.write(shop, as_of, fmt, command.stdout, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if output:
        command.stderr.write(f"导出 {count} 位顾客 (截至 {as_of}) → {output}")


def recompute_arguments(parser) -> None:
    parser.add_argument("--shop", required=True, help="店铺标识 (slug)")
    parser.add_argument("--quiet", action="store_true", help="不显示进度条")


def recompute(command: BaseCommand, options: dict) -> None:
    from xiaoer.crm import rfm

    shop = _shop(options["shop"])
    started = time.perf_counter()
    bar = _bar(rfm.count_buyers(shop) if not options["quiet"] else None, options["quiet"], "顾客")
    written = rfm.rebuild(shop, progress=bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    command.stdout.write(f"重算完成: {written} 位顾客 ({time.perf_counter() - started:.1f} 秒)")


def import_arguments(imp) -> None:
    imp.add_argument("file")
    imp.add_argument("--shop", required=True, help="店铺标识 (slug)")
    imp.add_argument("--mapping", help="列映射文件 (JSON)")
    imp.add_argument("--json", action="store_true", help="只输出一个 JSON 报告")
    imp.add_argument("--batch-size", type=int, default=1000)


def run_import(command: BaseCommand, options: dict) -> None:
    from xiaoer.customers import importer

    shop = _shop(options["shop"])
    started = time.perf_counter()
    try:
        mapping = importer.load_mapping(options.get("mapping"))
        report = importer.import_file(shop, options["file"], mapping=mapping,
                                      batch_size=max(1, options["batch_size"]), show_progress=not options["json"])
    except importer.ImportFileError as exc:
        if options["json"]:
            command.stdout.write(json.dumps({"imported": 0, "updated": 0, "skipped": 0,
                                             "errors": [{"row": 0, "reason": str(exc)}]}, ensure_ascii=False))
            raise SystemExit(1) from None
        raise CommandError(str(exc)) from None
    if options["json"]:
        command.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    elapsed = time.perf_counter() - started
    command.stdout.write(f"导入完成 ({elapsed:.1f} 秒, {report.rows} 行): 新增 {report.imported}，"
                         f"更新 {report.updated}，跳过 {report.skipped}，错误 {len(report.errors)}")
    for error in report.errors[:200]:
        command.stdout.write(f"  第 {error['row']} 行: {error['reason']}")
    if len(report.errors) > 200:
        command.stdout.write(f"  …… 还有 {len(report.errors) - 200} 个错误 (用 --json 看全部)")


SUBCOMMANDS: dict[str, tuple[str, Callable, Callable[[BaseCommand, dict], None]]] = {
    "export": ("导出顾客 (价值、RFM、等级、标签)", export_arguments, export),
    "recompute": ("重算全部顾客的价值和 RFM", recompute_arguments, recompute),
    "import": ("导入客户名单 (CSV UTF-8/GBK, xlsx; docs/customers-import.md)", import_arguments, run_import),
}


class Command(BaseCommand):
    help = "顾客: " + ", ".join(f"{name} {text}" for name, (text, _, _) in SUBCOMMANDS.items())

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, (text, arguments, _) in SUBCOMMANDS.items():
            arguments(sub.add_parser(name, help=text))

    def handle(self, *args, **options) -> None:
        SUBCOMMANDS[options["action"]][2](self, options)
