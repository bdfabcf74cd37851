"""Prices and stocks in the products file (the price/stock columns and the SKU cell), CSV and .xlsx: every
bad number is a per-row error naming the row, never an exception, and the rules are the product page's
SKU editor's (services.do_save_sku)."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from openpyxl import Workbook

from xiaoer.knowledge import services
from xiaoer.knowledge.importer import FileProblem
from xiaoer.knowledge.models import Product, Sku
from xiaoer.testing import make_shop, owner_of

pytestmark = pytest.mark.django_db

# value → what the message says (the product page's SKU editor refuses every one of them)
BAD_PRICES = [
    ("NaN", "超出范围"), ("nan", "超出范围"), ("sNaN", "超出范围"), ("inf", "超出范围"), ("-Infinity", "超出范围"),
    ("-1", "超出范围"), ("-0.01", "超出范围"), ("1e400", "超出范围"), ("100000000", "超出范围"),
    ("99999999.999", "最多两位小数"), ("1.234", "最多两位小数"), ("1e-400", "最多两位小数"),
    ("abc", "不是数字"), ("¥", "不是数字"),
]
BAD_STOCKS = [
    ("-1", "不能是负数"), ("-30", "不能是负数"), ("1000000000", "超出范围"), ("99999999999999999999", "超出范围"),
    ("3.5", "不是整数"), ("NaN", "不是整数"), ("1e400", "不是整数"),
]


def _import(data: bytes, name: str = "p.csv", **kwargs):
    shop = make_shop()
    return shop, services.import_file(shop, "products", data, name, **kwargs)


def _only_error(result, row: int = 3) -> str:
    assert not result.imported
    (error,) = result.errors
    assert error.row == row
    text = str(error)
    assert text.startswith(f"第 {row} 行：")
    return text


# --- the SKU cell ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "needle"), BAD_PRICES)
def test_bad_sku_price_is_a_row_error(price, needle):
    shop, result = _import(f'id,title,skus\nP1,好的,"A0::9:1"\nP2,坏的,"A1:颜色=黑:{price}:3"\n'.encode())
    text = _only_error(result)
    assert "SKU“A1”" in text and "价格" in text and needle in text, text
    assert not Product.objects.filter(shop=shop).exists()


@pytest.mark.parametrize(("stock", "needle"), BAD_STOCKS)
def test_bad_sku_stock_is_a_row_error(stock, needle):
    shop, result = _import(f'id,title,skus\nP1,好的,"A0::9:1"\nP2,坏的,"A1:颜色=黑:9:{stock}"\n'.encode())
    text = _only_error(result)
    assert "SKU“A1”" in text and "库存" in text and needle in text, text
    assert not Sku.objects.filter(product__shop=shop).exists()


# --- the product's own price and stock columns ----------------------------------------------------

@pytest.mark.parametrize(("price", "needle"), BAD_PRICES)
def test_bad_product_price_is_a_row_error(price, needle):
    shop, result = _import(f"id,title,price\nP1,好的,9\nP2,坏的,{price}\n".encode())
    text = _only_error(result)
    assert "价格" in text and needle in text, text
    assert not Product.objects.filter(shop=shop).exists()


@pytest.mark.parametrize(("stock", "needle"), BAD_STOCKS)
def test_bad_product_stock_is_a_row_error(stock, needle):
    shop, result = _import(f"id,title,stock\nP1,好的,1\nP2,坏的,{stock}\n".encode())
    text = _only_error(result)
    assert "库存" in text and needle in text, text
    assert not Product.objects.filter(shop=shop).exists()


def test_good_numbers_still_import():
    shop, result = _import(
        'id,title,price,stock,skus\n'
        'P1,卫衣,"¥1,299.50",0,"A1:颜色=黑:￥129:0 | A2:颜色=白:0.5:999999999 | A3:颜色=灰:129.00: | A4::1E+2:7"\n'
        'P2,袜子,,,\n'.encode())
    assert result.imported and not result.errors, result.errors
    p1, p2 = Product.objects.get(shop=shop, code="P1"), Product.objects.get(shop=shop, code="P2")
    assert (p1.price, p1.stock, p2.price, p2.stock) == (Decimal("1299.50"), 0, None, 0)
    skus = {s.code: (s.price, s.stock) for s in Sku.objects.filter(product=p1)}
    assert skus == {"A1": (Decimal("129"), 0), "A2": (Decimal("0.5"), 999999999), "A3": (Decimal("129"), 0),
                    "A4": (Decimal("100"), 7)}


def test_skip_bad_rows_imports_the_good_rows_and_lists_each_bad_one():
    data = ('id,title,price,stock,skus\n'
            'G1,好的,19.9,5,"G1-S:尺码=S:19.9:5"\n'
            'B1,坏价格,NaN,1,\n'
            'B2,坏SKU价格,9,1,"B2-S:尺码=S:NaN:1"\n'
            'B3,负SKU库存,9,1,"B3-S:尺码=S:9:-5"\n'
            'B4,负库存,9,-2,\n'
            'G2,也好,,,"G2-S:尺码=S::"\n'
            'B5,三位小数,9,1,"B5-S:尺码=S:9.999:1"\n').encode()
    shop, result = _import(data)
    assert not result.imported and [e.row for e in result.errors] == [3, 4, 5, 6, 8]

    shop, result = _import(data, skip_bad_rows=True)
    assert result.imported and (result.created, result.skipped) == (2, 5)
    assert set(Product.objects.filter(shop=shop).values_list("code", flat=True)) == {"G1", "G2"}
    assert set(Sku.objects.filter(product__shop=shop).values_list("code", flat=True)) == {"G1-S", "G2-S"}
    messages = {e.row: str(e) for e in result.errors}
    assert messages[3].startswith("第 3 行：") and "价格" in messages[3]
    assert "SKU“B2-S”" in messages[4] and "价格" in messages[4]
    assert "SKU“B3-S”" in messages[5] and "不能是负数" in messages[5]
    assert "库存不能是负数" in messages[6] and "SKU" not in messages[6]
    assert "SKU“B5-S”" in messages[8] and "最多两位小数" in messages[8]


# --- the same rules as the product page's SKU editor ----------------------------------------------

@pytest.mark.parametrize("price", [p for p, _ in BAD_PRICES] + ["0", "129", "129.5", "¥1,299.00", "￥9"])
@pytest.mark.parametrize("stock", ["0", "-1", "7"])
def test_import_and_sku_editor_accept_and_refuse_the_same_values(price, stock):
    shop = make_shop()
    product = services.do_save_product(owner_of(shop), code="T1", title="卫衣")
    try:
        services.do_save_sku(owner_of(shop), product, code="E1", attrs="", price=price, stock=stock)
        editor_ok = True
    except ValidationError:
        editor_ok = False
    cell = f"T1-M::{price}:{stock}".replace('"', '""')
    result = services.import_file(shop, "products", f'id,title,skus\nT2,外套,"{cell}"\n'.encode(), "p.csv")
    assert result.imported == editor_ok, result.errors


# --- .xlsx: numbers arrive as floats, or as text ---------------------------------------------------

def _xlsx(rows: list[list], patch: dict[bytes, bytes] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    if not patch:
        return buf.getvalue()
    # write raw cell values openpyxl would not write itself (what other tools may produce)
    src, out = zipfile.ZipFile(io.BytesIO(buf.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                for old, new in patch.items():
                    assert old in data
                    data = data.replace(old, new)
            dst.writestr(info, data)
    return out.getvalue()


def test_xlsx_bad_numbers_are_row_errors():
    data = _xlsx([["id", "title", "price", "stock", "skus"],
                  ["G1", "好的", 19.9, 5, "G1-S:尺码=S:19.9:5"],
                  ["B1", "文字NaN", "NaN", 1, None],
                  ["B2", "负价格", -1, 1, None],
                  ["B3", "负库存", 9, -3, None],
                  ["B4", "小数库存", 9, 2.5, None],
                  ["B5", "SKU NaN", 9, 1, "B5-S:尺码=S:NaN:1"],
                  ["B6", "SKU 负库存", 9, 1, "B6-S:尺码=S:9:-1"],
                  ["B7", "无穷大", 7777.25, 1, None],
                  ["B8", "无穷库存", 9, 8888.5, None]],
                 {b"<v>7777.25</v>": b"<v>1e400</v>", b"<v>8888.5</v>": b"<v>-1e400</v>"})
    shop, result = _import(data, "p.xlsx", skip_bad_rows=True)
    assert result.imported and result.created == 1
    messages = {e.row: str(e) for e in result.errors}
    assert set(messages) == {3, 4, 5, 6, 7, 8, 9, 10}
    assert "价格超出范围" in messages[3] and "价格超出范围" in messages[4]
    assert "库存不能是负数" in messages[5] and "不是整数" in messages[6]
    assert "SKU“B5-S”" in messages[7] and "SKU“B6-S”" in messages[8]
    assert "价格超出范围" in messages[9] and "不是整数" in messages[10]
    assert list(Product.objects.filter(shop=shop).values_list("code", "price", "stock")) == [
        ("G1", Decimal("19.9"), 5)]


def test_xlsx_computed_prices_are_read_as_excel_shows_them():
    # a formula such as =129*0.9 is stored as 116.10000000000001; Excel shows 116.1
    data = _xlsx([["id", "title", "price", "stock"], ["P1", "卫衣", 1.5, 2]],
                 {b"<v>1.5</v>": b"<v>116.10000000000001</v>", b"<v>2</v>": b"<v>30.000000000000004</v>"})
    shop, result = _import(data, "p.xlsx")
    assert result.imported, result.errors
    assert Product.objects.filter(shop=shop).values_list("price", "stock").get() == (Decimal("116.1"), 30)


def test_xlsx_with_an_unreadable_number_cell_is_a_file_problem():
    data = _xlsx([["id", "title", "price"], ["P1", "好的", 1], ["P2", "坏的", 1.5]], {b"<v>1.5</v>": b"<v>NaN</v>"})
    with pytest.raises(FileProblem) as exc:
        _import(data, "p.xlsx")
    assert "Excel" in str(exc.value) and re.search(r"第 \d+ 行", str(exc.value))
