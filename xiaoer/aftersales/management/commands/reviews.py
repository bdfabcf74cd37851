"""``xiaoer reviews import FILE --shop SHOP [--mapping M] [--json]`` (docs/reviews-and-revisits.md)."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from xiaoer.accounts.models import Shop


class Command(BaseCommand):
    help = "评价: import 导入平台评价导出 (CSV GBK/UTF-8, xlsx)"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="导入评价导出")
        imp.add_argument("file")
        imp.add_argument("--shop", required=True, help="店铺标识 (slug)")
        imp.add_argument("--mapping", help="列映射文件 (JSON 或 TOML)")
        imp.add_argument("--json", action="store_true", help="只输出一个 JSON 报告")
        imp.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options) -> None:
        if options["action"] == "import":
            self._import(options)

    def _import(self, options) -> None:
        from xiaoer.aftersales import reviews_import as importer

        try:
            shop = Shop.objects.get(slug=options["shop"])
        except Shop.DoesNotExist:
            raise CommandError(f"没有这个店铺: {options['shop']}") from None
        started = time.perf_counter()
        try:
            mapping = importer.load_mapping(options.get("mapping"))
            report = importer.import_file(shop, options["file"], mapping=mapping,
                                          batch_size=max(1, options["batch_size"]),
                                          show_progress=not options["json"])
        except importer.ImportFileError as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"imported": 0, "updated": 0, "skipped": 0,
                                              "errors": [{"row": 0, "reason": str(exc)}],
                                              "followups_opened": 0}, ensure_ascii=False))
                raise SystemExit(1) from None
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
            return
        elapsed = time.perf_counter() - started
        self.stdout.write(f"导入完成 ({elapsed:.1f} 秒, {report.rows} 行): 新增 {report.imported}，"
                          f"更新 {report.updated}，跳过 {report.skipped}，错误 {len(report.errors)}，"
                          f"新开跟进 {report.followups_opened}")
        for error in report.errors[:200]:
            self.stdout.write(f"  第 {error['row']} 行: {error['reason']}")
        if len(report.errors) > 200:
            self.stdout.write(f"  …… 还有 {len(report.errors) - 200} 个错误 (用 --json 看全部)")
