"""Real platform exports write long numbers so that a spreadsheet keeps them: a leading apostrophe,
a ``="…"`` formula, a leading tab. Every importer reads them as the number; a number a spreadsheet
already destroyed with scientific notation is refused with a row error saying so (issue 10, Broken 5)."""

from __future__ import annotations

import csv

from django.utils import translation

from xiaoer.importing import clean_cell, csv_safe
from xiaoer.orders import importer
from xiaoer.orders.models import Order

HEADER = ["订单编号", "买家会员名", "总金额", "买家实际支付金额", "订单状态", "收货人姓名", "收货地址",
          "联系手机", "订单创建时间", "订单付款时间", "宝贝标题", "宝贝总数量", "物流公司", "物流单号", "退款金额"]
STYLES = [lambda n: f"'{n}", lambda n: f'="{n}"', lambda n: f"\t{n}"]
GOOD = 495


def _order_no(i: int) -> str:
    return f"33{i:017d}"  # 19 digits, like a Taobao order number: beyond a float's precision


def _taobao_rows():
    for i in range(GOOD):
        wrap = STYLES[i % 3]
        yield [wrap(_order_no(i)), f"买家{i}", "￥129.00", wrap("129.00"), "卖家已发货，等待买家确认", "王五",
               "浙江省 杭州市 西湖区 文三路 1 号", wrap(f"137{i:08d}"), "2026-03-01 10:00:00",
               "2026-03-01 10:05:00", "羊毛大衣 驼色 M", "1", "中通快递", wrap(f"7731{i:010d}"), "0"]
    # After a trip through Excel: the numbers are gone for good.
    yield ["3.30000000000000E+15", "买家x", "129", "129", "已付款", "王五", "地址", "13700000000",
           "2026-03-01 10:00:00", "", "大衣", "1", "", "", "0"]
    yield ["'3300000000000000099", "买家y", "129", "129", "已付款", "王五", "地址", "1.37000000000E+10",
           "2026-03-01 10:00:00", "", "大衣", "1", "", "", "0"]


def test_gbk_taobao_report_with_spreadsheet_safe_numbers(world, tmp_path):
    path = tmp_path / "ExportOrderList.csv"
    with open(path, "w", encoding="gbk", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(_taobao_rows())
    assert "宝贝".encode("gbk") in path.read_bytes()
    with translation.override("zh-hans"):
        report = importer.import_file(world.shop, path)
    assert report.imported == GOOD, report.errors[:3]
    assert [e["row"] for e in report.errors] == [GOOD + 2, GOOD + 3]
    assert "订单编号“3.30000000000000E+15”被 Excel 改成了科学计数法" in report.errors[0]["reason"]
    assert "联系手机“1.37000000000E+10”被 Excel 改成了科学计数法" in report.errors[1]["reason"]
    order = Order.objects.get(shop=world.shop, order_no=_order_no(4))  # the ="…" style
    assert order.receiver_phone == "13700000004" and order.tracking_no == "77310000000004"
    assert order.paid_amount == 129
    assert set(Order.objects.filter(shop=world.shop).values_list("order_no", flat=True)) == {
        _order_no(i) for i in range(GOOD)}


def test_scientific_notation_error_in_english(world, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("订单编号,订单状态\n3.3E+15,已付款\n", encoding="utf-8")
    with translation.override("en"):
        report = importer.import_file(world.shop, path)
    assert report.imported == 0
    assert "scientific notation" in report.errors[0]["reason"]


def test_cells_are_read_as_a_spreadsheet_shows_them():
    assert clean_cell("'0571-8888") == "0571-8888"
    assert clean_cell('="0012"') == "0012"
    assert clean_cell("\t3300000000000000001\r") == "3300000000000000001"
    assert clean_cell(3.3e15) == "3.3e+15"
    assert clean_cell(12.0) == "12" and clean_cell(116.10000000000001) == "116.1"


def test_csv_export_escapes_every_formula_lead():
    for lead in ("=", "+", "-", "@", "\t", "\r"):
        assert csv_safe(f"{lead}2+3+cmd|' /C calc'!A0").startswith("'")
    assert csv_safe("-2+3+cmd|' /C calc'!A0") == "'-2+3+cmd|' /C calc'!A0"
    assert csv_safe(-5) == "-5" and csv_safe("羊毛大衣") == "羊毛大衣"
    assert clean_cell(csv_safe("=1+1")) == "=1+1"  # an export re-imports unchanged
