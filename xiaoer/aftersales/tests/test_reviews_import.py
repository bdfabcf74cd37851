"""Importing platform review exports: GBK/UTF-8 CSV, xlsx, bad rows, idempotent re-imports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command

from xiaoer.accounts.models import Role
from xiaoer.aftersales.models import Review, ReviewFollowUp
from xiaoer.customers import services as customer_services
from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.testing import make_seat, make_shop, make_staff

HEADER = ["订单编号", "买家昵称", "评价", "评价内容", "评价时间", "宝贝标题", "追评"]


class Shop:
    def __init__(self) -> None:
        self.shop = make_shop()
        self.agent = make_staff(self.shop, Role.AGENT)
        self.seat = make_seat(self.shop, operator=self.agent)
        buyer = customer_services.get_or_create_buyer(self.shop, "买家甲")
        clean = parsing.clean_order({"order_no": "R1001", "buyer_id": "买家甲", "total_amount": "99",
                                     "created_at": "2026-03-01 10:00:00"}, parsing.ZoneInfo("Asia/Shanghai"))
        order, _ = order_services.do_upsert_order(None, self.shop, clean, source="api")
        order.attributed_seat = self.seat
        order.save(update_fields=["attributed_seat"])
        self.buyer = buyer


@pytest.fixture
def world(db) -> Shop:
    return Shop()


def _write_csv(path, rows, header=HEADER, encoding="gbk"):
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _cli(*args) -> dict:
    out = io.StringIO()
    try:
        call_command("reviews", "import", *[str(a) for a in args], "--json", stdout=out)
    except SystemExit:
        pass
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1  # exactly one JSON object, nothing else on stdout
    return json.loads(lines[0])


ROWS = [
    ["R1001", "买家甲", "差评", "衣服起球了", "2026-03-05 10:00:00", "羊毛大衣 驼色 M", ""],   # bad, served by seat
    ["R1002", "买家乙", "5", "很好", "2026-03-05 11:00:00", "纯棉T恤", "穿了一周也不错"],   # 5 stars: good
    ["R1003", "买家丙", "3星", "一般", "2026-03-05 12:00:00", "纯棉T恤", ""],              # medium, no seat
    ["R1004", "买家丁", "超级好", "?", "2026-03-05 12:00:00", "纯棉T恤", ""],               # bad rating
    ["", "买家戊", "好评", "好", "2026-03-05 12:00:00", "纯棉T恤", ""],                      # no order number
    ["R1006", "买家己", "好评", "好", "昨天下午", "纯棉T恤", ""],                            # bad time
    ["3.30000000000000E+15", "买家庚", "好评", "好", "2026-03-05 12:00:00", "纯棉T恤", ""],  # Excel-mangled
]


def test_gbk_export_with_bad_rows_and_followups(world, tmp_path):
    path = _write_csv(tmp_path / "reviews.csv", ROWS)
    assert "评价".encode("gbk") in path.read_bytes()
    report = _cli(path, "--shop", world.shop.slug)
    assert (report["imported"], report["updated"], report["skipped"]) == (3, 0, 4)
    assert [e["row"] for e in report["errors"]] == [5, 6, 7, 8]
    assert "科学计数法" in report["errors"][3]["reason"]
    assert report["followups_opened"] == 2
    bad = Review.objects.get(shop=world.shop, order_no="R1001")
    assert bad.rating == "bad" and bad.customer == world.buyer and bad.seat == world.seat
    assert Review.objects.get(order_no="R1002").stars == 5
    assert Review.objects.get(order_no="R1002").followup_text == "穿了一周也不错"
    assert bad.follow_up.seat == world.seat and bad.follow_up.assignee_role == ""
    medium = ReviewFollowUp.objects.get(review__order_no="R1003")
    assert medium.seat is None and medium.assignee_role == Role.AFTERSALES
    assert (medium.deadline - medium.review.reviewed_at).days == 30


def test_reimport_adds_nothing_and_opens_no_followup_twice(world, tmp_path):
    path = _write_csv(tmp_path / "reviews.csv", ROWS[:3], encoding="utf-8-sig")
    assert _cli(path, "--shop", world.shop.slug)["followups_opened"] == 2
    again = _cli(path, "--shop", world.shop.slug)
    assert again == {"imported": 0, "updated": 0, "skipped": 3, "errors": [], "followups_opened": 0}
    assert Review.objects.filter(shop=world.shop).count() == 3
    assert ReviewFollowUp.objects.filter(shop=world.shop).count() == 2


def test_bad_review_revised_to_good_closes_its_followup(world, tmp_path):
    _cli(_write_csv(tmp_path / "a.csv", ROWS[:1]), "--shop", world.shop.slug)
    revised = [["R1001", "买家甲", "好评", "卖家处理很及时", "2026-03-05 10:00:00", "羊毛大衣 驼色 M", "换了一件很好"]]
    report = _cli(_write_csv(tmp_path / "b.csv", revised), "--shop", world.shop.slug)
    assert (report["updated"], report["followups_opened"]) == (1, 0)
    review = Review.objects.get(shop=world.shop, order_no="R1001")
    assert review.revised and review.first_rating == "bad"
    assert review.follow_up.state == "closed" and review.follow_up.outcome == "revised"


def test_xlsx_with_mapping(world, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["订单号", "客户", "打分", "内容", "时间", "商品名称"])
    sheet.append([1002003, "买家乙", 2, "太小了", "2026-03-06 09:00", "纯棉T恤"])
    sheet.append(["R2", "买家乙", "★★★★★", "好", "2026-03-06 09:00", "纯棉T恤"])
    path = tmp_path / "reviews.xlsx"
    book.save(path)
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"columns": {"rating": "打分", "buyer_id": "客户", "text": "内容",
                                               "reviewed_at": "时间"}}), "utf-8")
    report = _cli(path, "--shop", world.shop.slug, "--mapping", mapping)
    assert (report["imported"], report["followups_opened"], report["errors"]) == (2, 1, [])
    assert Review.objects.get(shop=world.shop, order_no="1002003").rating == "bad"


def test_file_without_rating_column_is_refused_whole(world, tmp_path):
    path = _write_csv(tmp_path / "x.csv", [["R1", "x"]], header=["订单编号", "买家昵称"])
    report = _cli(path, "--shop", world.shop.slug)
    assert report["imported"] == 0 and "评价" in report["errors"][0]["reason"]
    assert not Review.objects.exists()


def test_reviews_stay_in_their_shop(world, tmp_path):
    other = make_shop()
    path = _write_csv(tmp_path / "reviews.csv", ROWS[:1])
    _cli(path, "--shop", other.slug)
    review = Review.objects.get(shop=other)
    assert review.customer is None and review.seat is None  # the order of another shop is not linked
