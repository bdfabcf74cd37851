"""``xiaoer kpi rebuild --shop SHOP`` and ``xiaoer kpi report --shop SHOP --from D --to D
[--by seat|staff|day] [--json]`` (docs/kpis.md)."""

from __future__ import annotations

import json
import sys
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from xiaoer.accounts.models import Shop

COLUMNS = (("inquiries", "询单"), ("ordered", "下单"), ("paid", "付款"), ("inquiry_conversion", "询单转化率"),
           ("payment_conversion", "付款转化率"), ("attributed_sales", "销售额"), ("average_order_value", "客单价"),
           ("main_sales", "主销售额"), ("related_sales", "关联销售额"), ("first_response_median_s", "首响中位(秒)"),
           ("response_median_s", "响应中位(秒)"), ("response_p90_s", "响应P90(秒)"),
           ("three_minute_rate", "3分钟响应率"), ("reply_ratio", "答问比"), ("turns", "轮次"))


class Command(BaseCommand):
    help = "客服绩效: rebuild 从原始数据重算, report 报表"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser("rebuild", help="从聊天记录和订单重算一个店铺的绩效")
        rebuild.add_argument("--shop", required=True, help="店铺标识 (slug)")
        rep = sub.add_parser("report", help="绩效报表")
        rep.add_argument("--shop", required=True)
        rep.add_argument("--from", dest="start", required=True, help="开始日期 YYYY-MM-DD")
        rep.add_argument("--to", dest="end", required=True, help="结束日期 YYYY-MM-DD (含)")
        rep.add_argument("--by", choices=("seat", "staff", "day"), default="seat")
        rep.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        try:
            shop = Shop.objects.get(slug=options["shop"])
        except Shop.DoesNotExist:
            raise CommandError(f"没有这个店铺: {options['shop']}") from None
        if options["action"] == "rebuild":
            self._rebuild(shop)
        else:
            self._report(shop, options)

    def _rebuild(self, shop: Shop) -> None:
        from tqdm import tqdm

        from xiaoer.kpi import compute

        started = time.perf_counter()
        with tqdm(desc="重算绩效", unit="位顾客", file=sys.stderr, mininterval=0.5) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            with transaction.atomic():
                result = compute.rebuild(shop, progress=progress)
        self.stdout.write(f"重算完成 ({time.perf_counter() - started:.1f} 秒): {result['buyers']} 位顾客，"
                          f"{result['days']} 天")

    def _report(self, shop: Shop, options) -> None:
        from xiaoer.kpi import report

        try:
            start, end = report.check_period(options["start"], options["end"])
            data = report.report(shop, start, end, by=options["by"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        by = options["by"]
        self.stdout.write("\t".join([{"seat": "席位", "staff": "客服", "day": "日期"}[by],
                                     *(label for _k, label in COLUMNS)]))
        for row in [*data["rows"], {by: "全店", **data["shop"]}]:
            self.stdout.write("\t".join([str(row[by]), *("-" if row[k] is None else str(row[k]) for k, _l in COLUMNS)]))
        shop_figures = data["shop"]
        self.stdout.write(f"静默下单 {shop_figures['silent_orders']}，催付 {shop_figures['reminded']} 单，"
                          f"挽回 {shop_figures['recovered']} 单")
