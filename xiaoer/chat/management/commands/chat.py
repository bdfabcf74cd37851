"""``xiaoer chat import FILE --shop SHOP [--create-seats] [--json]`` (docs/chat-import.md)."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from xiaoer.accounts.models import Shop


class Command(BaseCommand):
    help = "聊天: import 导入历史聊天记录 (JSON Lines)"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="导入历史聊天记录 (每行一条消息的 JSON)")
        imp.add_argument("file")
        imp.add_argument("--shop", required=True, help="店铺标识 (slug)")
        imp.add_argument("--create-seats", action="store_true", help="没有的客服席位按名字新建")
        imp.add_argument("--json", action="store_true", help="只输出一个 JSON 报告")
        imp.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options) -> None:
        from xiaoer.chat import history_import

        try:
            shop = Shop.objects.get(slug=options["shop"])
        except Shop.DoesNotExist:
            raise CommandError(f"没有这个店铺: {options['shop']}") from None
        started = time.perf_counter()
        try:
            report = history_import.import_file(shop, options["file"], create_seats=options["create_seats"],
                                                batch_size=max(1, options["batch_size"]),
                                                show_progress=not options["json"])
        except history_import.ImportFileError as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"imported": 0, "skipped": 0,
                                              "errors": [{"line": 0, "reason": str(exc)}]}, ensure_ascii=False))
                raise SystemExit(1) from None
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
            return
        elapsed = time.perf_counter() - started
        self.stdout.write(f"导入完成 ({elapsed:.1f} 秒, {report.lines} 行): 新增 {report.imported}，"
                          f"跳过 {report.skipped}，错误 {len(report.errors)}")
        for error in report.errors[:200]:
            self.stdout.write(f"  第 {error['line']} 行: {error['reason']}")
        if len(report.errors) > 200:
            self.stdout.write(f"  …… 还有 {len(report.errors) - 200} 个错误 (用 --json 看全部)")
