"""Importing platform order reports: GBK/UTF-8 CSV, xlsx, messy headers, bad rows, mappings."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from xiaoer.customers.models import Customer
from xiaoer.orders import importer
from xiaoer.orders.models import Order, OrderChange, OrderStatus

TAOBAO_HEADER = ["订单编号", "买家会员名 ", "总金额", " 买家实际支付金额", "订单状态", "收货人姓名",
                 "收货地址 ", "联系手机", "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝总数量",
                 "物流公司", "物流单号", "退款金额"]


def _row(no, *, buyer="买家甲", total="￥1,299.00", paid="1299", status="买家已付款，等待卖家发货",
         created="2026-03-01 10:00:00", paid_at="2026-03-01 10:05:00", carrier="", tracking="", refund="0"):
    return [no, buyer, total, paid, status, "王五", "浙江省 杭州市 西湖区 文三路 1 号", "13700000000",
            created, paid_at, "羊毛大衣 驼色 M", "1", carrier, tracking, refund]


def _write_csv(path, rows, header=TAOBAO_HEADER, encoding="gbk"):
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _cli(*args) -> dict:
    out = io.StringIO()
    call_command("orders", "import", *[str(a) for a in args], "--json", stdout=out)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1  # exactly one JSON object, nothing else on stdout
    return json.loads(lines[0])


def test_gbk_export_with_stray_space_headers_and_bad_rows(world, tmp_path):
    rows = [
        _row("T1001"),
        _row("T1002", status="等待买家付款", paid="0", paid_at=""),          # unpaid: empty pay time
        _row("T1003", total="12元3角"),                                       # bad amount
        _row("", buyer="买家乙"),                                             # no order number
        _row("T1005", created="昨天下午"),                                    # bad time
        _row("T1006", status="宇宙状态"),                                     # unknown status
        _row("T1007", status="卖家已发货，等待买家确认", carrier="中通快递", tracking="ZT123456"),
        ["T1008", "买家丙"],                                                  # short row
    ]
    path = _write_csv(tmp_path / "report.csv", rows)
    assert "宝贝".encode("gbk") in path.read_bytes()  # really GBK, not UTF-8
    report = _cli(path, "--shop", world.shop.slug)
    assert report["imported"] == 3 and report["updated"] == 0
    assert report["skipped"] == 5
    assert [e["row"] for e in report["errors"]] == [4, 5, 6, 7, 9]
    assert "金额" in report["errors"][0]["reason"]
    assert "订单编号" in report["errors"][1]["reason"]
    paid = Order.objects.get(shop=world.shop, order_no="T1001")
    assert paid.total_amount == Decimal("1299.00") and paid.status == OrderStatus.PAID
    assert paid.receiver_address.startswith("浙江省") and paid.items.get().title == "羊毛大衣 驼色 M"
    assert paid.buyer.buyer_id == "买家甲"
    unpaid = Order.objects.get(shop=world.shop, order_no="T1002")
    assert unpaid.status == OrderStatus.UNPAID and unpaid.paid_at is None
    assert Order.objects.get(order_no="T1007").tracking_no == "ZT123456"


def test_import_is_idempotent_and_reports_updates(world, tmp_path):
    path = _write_csv(tmp_path / "a.csv", [_row("T2001"), _row("T2002", status="等待买家付款", paid_at="")],
                      encoding="utf-8-sig")
    assert _cli(path, "--shop", world.shop.slug)["imported"] == 2
    again = _cli(path, "--shop", world.shop.slug)
    assert again == {"imported": 0, "updated": 0, "skipped": 2, "errors": []}
    path = _write_csv(tmp_path / "b.csv", [_row("T2001"), _row("T2002", paid_at="2026-03-01 11:00:00")])
    assert _cli(path, "--shop", world.shop.slug) == {"imported": 0, "updated": 1, "skipped": 1, "errors": []}
    order = Order.objects.get(order_no="T2002")
    assert order.status == OrderStatus.PAID
    sync = OrderChange.objects.get(order=order)
    assert sync.changes["status"] == ["unpaid", "paid"]
    assert Order.objects.filter(shop=world.shop).count() == 2


def test_anonymised_report_without_buyer_column(world, tmp_path):
    """The shape of real anonymised Tmall reports: no buyer, province-only address, no status."""
    header = ["订单编号", "总金额", "买家实际支付金额", "收货地址 ", "订单创建时间", "订单付款时间 ", "退款金额"]
    rows = [["1", "178.8", "0.0", "上海", "2020-02-21 00:00:00", "", "0.0"],
            ["2", "21.0", "21.0", "内蒙古自治区", "2020-02-20 23:59:54", "2020-02-21 00:00:02", "0.0"],
            ["3", "37.0", "37.0", "安徽省", "2020-02-20 23:59:35", "2020-02-20 23:59:40", "37.0"]]
    path = _write_csv(tmp_path / "anon.csv", rows, header=header, encoding="utf-8")
    report = _cli(path, "--shop", world.shop.slug)
    assert report == {"imported": 3, "updated": 0, "skipped": 0, "errors": []}
    statuses = dict(Order.objects.filter(shop=world.shop).values_list("order_no", "status"))
    assert statuses == {"1": "unpaid", "2": "paid", "3": "closed"}
    assert not Customer.objects.filter(shop=world.shop, buyer_id="").exists()
    assert Order.objects.filter(shop=world.shop, buyer__isnull=False).count() == 0


def test_xlsx_import(world, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(TAOBAO_HEADER)
    sheet.append(_row("X1"))
    sheet.append(_row("X2", total="abc"))
    book.save(tmp_path / "r.xlsx")
    report = _cli(tmp_path / "r.xlsx", "--shop", world.shop.slug)
    assert report["imported"] == 1
    assert report["errors"] == [{"row": 3, "reason": report["errors"][0]["reason"]}]


@pytest.mark.parametrize("kind", ["json", "toml"])
def test_mapping_file_adapts_other_layouts(world, tmp_path, kind):
    header = ["Order ID", "Buyer", "Amount", "State", "Placed", "Paid on"]
    rows = [["E1", "amy", "USD 10.50", "PAID", "03/01/2026 09:00", "03/01/2026 09:10"],
            ["E2", "bob", "7", "WAITING", "03/01/2026 09:30", ""]]
    path = _write_csv(tmp_path / "e.csv", rows, header=header, encoding="utf-8")
    columns = {"order_no": "Order ID", "buyer_id": "Buyer", "total_amount": "Amount", "status": "State",
               "created_at": "Placed", "paid_at": "Paid on"}
    statuses = {"PAID": "paid", "WAITING": "unpaid"}
    if kind == "json":
        mapping = tmp_path / "m.json"
        mapping.write_text(json.dumps({"columns": columns, "status_values": statuses,
                                       "time_format": "%m/%d/%Y %H:%M"}), "utf-8")
    else:
        mapping = tmp_path / "m.toml"
        mapping.write_text('time_format = "%m/%d/%Y %H:%M"\n[columns]\n'
                           + "".join(f'{k} = "{v}"\n' for k, v in columns.items())
                           + "[status_values]\n" + "".join(f'{k} = "{v}"\n' for k, v in statuses.items()),
                           "utf-8")
    report = _cli(path, "--shop", world.shop.slug, "--mapping", mapping)
    assert report == {"imported": 2, "updated": 0, "skipped": 0, "errors": []}
    e1 = Order.objects.get(order_no="E1")
    assert e1.total_amount == Decimal("10.50") and e1.status == "paid" and e1.created_at.hour == 1  # 09:00 +08


def test_file_without_order_number_column_is_refused(world, tmp_path):
    path = _write_csv(tmp_path / "x.csv", [["a", "b"]], header=["名字", "金额"], encoding="utf-8")
    with pytest.raises(importer.ImportFileError, match="订单编号"):
        importer.import_file(world.shop, path)


def test_import_attributes_the_seat_that_chatted_before_the_order(world, tmp_path):
    import datetime as dt

    from django.utils import timezone

    from xiaoer.chat import writer

    writer.post_message_sync(world.conversation.pk, sender_kind="agent", body="亲，这款有货哦",
                             seat_id=world.seat.pk, staff_id=world.agent.pk, client_id="a-1")
    soon = timezone.localtime(timezone.now() + dt.timedelta(minutes=5), timezone.get_fixed_timezone(480))
    late = soon + dt.timedelta(hours=30)
    path = _write_csv(tmp_path / "att.csv", [
        _row("A1", buyer="tb_buyer_1", created=soon.strftime("%Y-%m-%d %H:%M:%S")),
        _row("A2", buyer="tb_buyer_1", created=late.strftime("%Y-%m-%d %H:%M:%S")),
        _row("A3", buyer="陌生人", created=soon.strftime("%Y-%m-%d %H:%M:%S"))], encoding="utf-8")
    _cli(path, "--shop", world.shop.slug)
    seats = dict(Order.objects.filter(shop=world.shop).values_list("order_no", "attributed_seat_id"))
    assert seats == {"A1": world.seat.pk, "A2": None, "A3": None}
