"""``xiaoer customers <action>``: import (docs/customers-import.md); more actions join ACTIONS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from xiaoer.accounts.models import Shop


def _shop(slug: str) -> Shop:
    try:
        return Shop.objects.get(slug=slug)
    except Shop.DoesNotExist:
        raise CommandError(f"没有这个店铺: {slug}") from None


def add_import(sub) -> None:
    imp = sub.add_parser("import", help="导入客户名单 (CSV UTF-8/GBK, xlsx)")
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


# action → (add its arguments, run it)
ACTIONS: dict[str, tuple[Callable, Callable]] = {
    "import": (add_import, run_import),
}


class Command(BaseCommand):
    help = "客户: import 导入客户名单"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for add, _run in ACTIONS.values():
            add(sub)

    def handle(self, *args, **options) -> None:
        ACTIONS[options["action"]][1](self, options)
