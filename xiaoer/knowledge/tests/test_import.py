"""Import/export of standard answers, quick phrases and products, through the services."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook

from xiaoer.knowledge import services
from xiaoer.knowledge.importer import FileProblem
from xiaoer.knowledge.models import Product, QuickPhrase, StandardAnswer
from xiaoer.testing import make_seat, make_shop

pytestmark = pytest.mark.django_db

HEADER = "id,category,question,similar,answer,product\n"


def _csv(rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return (header + rows).encode(encoding)


def test_utf8_import_creates_answers_with_phrasings():
    shop = make_shop()
    data = _csv("Q1,shipping,什么时候发货,几天发货|今天能发吗,亲，{顾客}，下午4点前当天发,\n"
                "Q2,bargain,能便宜吗,,亲，已经是最低价啦,\n")
    result = services.import_file(shop, "answers", data, "kb.csv")
    assert result.imported and result.created == 2 and not result.errors
    q1 = StandardAnswer.objects.get(shop=shop, code="Q1")
    assert q1.similar == ["几天发货", "今天能发吗"]
    assert q1.category == "shipping"


def test_gbk_file_with_chinese_headers_and_category_labels():
    shop = make_shop()
    data = _csv("Q1,发货物流,发什么快递,用哪家快递,亲，默认中通,\n", header="编号,分类,标准问题,相似问法,答案,商品\n",
                encoding="gbk")
    result = services.import_file(shop, "answers", data, "kb.csv")
    assert result.imported, result.errors
    answer = StandardAnswer.objects.get(shop=shop, code="Q1")
    assert answer.question == "发什么快递" and answer.category == "shipping"


def test_reimport_updates_by_id_never_duplicates():
    shop = make_shop()
    services.import_file(shop, "answers", _csv("Q1,shipping,发货,,旧答案,\n"), "a.csv")
    result = services.import_file(shop, "answers", _csv("Q1,shipping,发货,,新答案,\nQ2,other,别的,,好,\n"), "a.csv")
    assert (result.created, result.updated) == (1, 1)
    assert StandardAnswer.objects.filter(shop=shop).count() == 2
    assert StandardAnswer.objects.get(shop=shop, code="Q1").answer == "新答案"


def test_every_bad_row_is_reported_and_nothing_imported():
    shop = make_shop()
    data = _csv("Q1,shipping,发货,,好的,\n"
                "Q1,shipping,重复,,好的,\n"
                "Q3,weather,天气,,晴,\n"
                "Q4,bargain,便宜,,亲 {优惠码} 给你,\n"
                "Q5,bargain,,,没有问题,\n"
                "Q6,other,商品,,答,NOPE\n")
    result = services.import_file(shop, "answers", data, "kb.csv")
    assert not result.imported
    by_row = {e.row: e.message for e in result.errors}
    assert set(by_row) == {3, 4, 5, 6, 7}
    assert "重复" in by_row[3] and "第 2 行" in by_row[3]
    assert "weather" in by_row[4]
    assert "{优惠码}" in by_row[5]
    assert "标准问题" in by_row[6]
    assert "NOPE" in by_row[7]
    assert "第 4 行" in str(result.errors[1])
    assert not StandardAnswer.objects.filter(shop=shop).exists()


def test_skip_bad_rows_imports_the_good_ones():
    shop = make_shop()
    data = _csv("Q1,shipping,发货,,好的,\nQ2,nonsense,x,,y,\n")
    result = services.import_file(shop, "answers", data, "kb.csv", skip_bad_rows=True)
    assert result.imported and result.created == 1 and result.skipped == 1
    assert [e.row for e in result.errors] == [3]


@pytest.mark.parametrize("data, needle", [
    ("question,answer\n发货,好\n".encode(), "缺少列"),
    (b"", "空"),
    ("id,category,question,answer\n".encode("utf-16"), "编码"),
    (b"PK\x03\x04garbage", "Excel"),
])
def test_unreadable_files_say_why(data, needle):
    shop = make_shop()
    with pytest.raises(FileProblem) as exc:
        services.import_file(shop, "answers", data, "kb.csv")
    assert needle in str(exc.value)


def test_xlsx_export_then_import_round_trips():
    shop = make_shop()
    services.import_file(shop, "answers", _csv("Q1,size_spec,穿什么码,选多大,亲 告诉我身高体重,\n"
                                               "Q2,other,=1+1,,-注意,\n"), "a.csv")
    content, ctype, name = services.export_file(shop, "answers", "xlsx")
    assert name.endswith(".xlsx") and "spreadsheet" in ctype
    other = make_shop()
    result = services.import_file(other, "answers", content, name)
    assert result.imported and result.created == 2, result.errors
    copied = StandardAnswer.objects.get(shop=other, code="Q1")
    assert copied.similar == ["选多大"]
    # formula-looking cells are exported as text, never as formulas, and read back as they were
    assert "'=1+1" in [c.value for row in load_workbook(io.BytesIO(content)).active.iter_rows() for c in row]
    assert StandardAnswer.objects.get(shop=other, code="Q2").question == "=1+1"
    assert StandardAnswer.objects.get(shop=other, code="Q2").answer == "-注意"


def test_xlsx_with_chinese_headers():
    shop = make_shop()
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "分类", "标准问题", "相似问法", "答案", "商品"])
    sheet.append([101, "售后", "怎么退货", "能退吗|可以退吗", "亲，七天无理由", None])
    buf = io.BytesIO()
    book.save(buf)
    result = services.import_file(shop, "answers", buf.getvalue(), "kb.xlsx")
    assert result.imported, result.errors
    assert StandardAnswer.objects.get(shop=shop, code="101").category == "after_sales"


def test_csv_export_has_bom_and_reimports():
    shop = make_shop()
    services.import_file(shop, "answers", _csv("Q1,shipping,发货,a|b,好,\n"), "a.csv")
    content, _ctype, _name = services.export_file(shop, "answers", "csv")
    assert content.startswith("\ufeff".encode())
    other = make_shop()
    assert services.import_file(other, "answers", content, "answers.csv").imported


def test_products_with_size_charts_and_links():
    shop = make_shop()
    data = ("id,title,material,size_chart,related,published\n"
            'P1,连衣裙,棉,"S: 身高150-160 体重80-100斤; M: 身高160-170 体重50-60",P2,1\n'
            'P2,T恤,棉,"{""M"": {""height"": [160, 170]}}",,0\n'
            "P3,坏的,棉,S 身高,,\n"
            "P4,链接错,棉,,NOPE,\n").encode()
    result = services.import_file(shop, "products", data, "p.csv", skip_bad_rows=True)
    assert result.imported
    assert {e.row for e in result.errors} == {4, 5}
    p1 = Product.objects.get(shop=shop, code="P1")
    assert p1.size_chart["S"]["weight"] == [40.0, 50.0]  # 斤 converted to kg
    assert list(p1.related.values_list("code", flat=True)) == ["P2"]
    assert p1.published


def test_products_carry_skus_and_reimport_replaces_them_by_code():
    from decimal import Decimal

    from xiaoer.knowledge.models import Sku

    shop = make_shop()
    data = ("id,title,price,规格\n"
            'T1,卫衣,129,"T1-S:颜色=黑,尺码=S:129:30 | T1-M:颜色=黑,尺码=M::5"\n'
            "T2,袜子,9,\n").encode()
    assert services.import_file(shop, "products", data, "p.csv").imported
    skus = {s.code: s for s in Sku.objects.filter(product__shop=shop)}
    assert set(skus) == {"T1-S", "T1-M"}
    assert skus["T1-S"].attrs == {"颜色": "黑", "尺码": "S"} and skus["T1-S"].price == Decimal("129")
    assert skus["T1-M"].price is None and skus["T1-M"].stock == 5

    again = 'id,title,skus\nT1,卫衣,"T1-M:颜色=黑,尺码=M:139:8"\n'.encode()
    result = services.import_file(shop, "products", again, "p.csv")
    assert result.imported and result.created == 0 and result.updated == 1
    (only,) = Sku.objects.filter(product__shop=shop)
    assert (only.code, only.pk, only.stock) == ("T1-M", skus["T1-M"].pk, 8)  # same row, updated

    no_column = "id,title\nT1,卫衣（新标题）\n".encode()
    assert services.import_file(shop, "products", no_column, "p.csv").imported
    assert Sku.objects.filter(product__shop=shop).count() == 1  # no skus column: SKUs left alone

    header, rows = services.export_rows(shop, "products")
    assert rows[0][header.index("skus")] == "T1-M:颜色=黑,尺码=M:139.00:8"


@pytest.mark.parametrize("cell, problem", [
    ("bad code!:颜色=黑", "编号"), ("A1:颜色黑", "属性=值"), ("A1::abc", "价格"), ("A1:::x", "库存"),
    ("A1:: | A1::", "重复"),
])
def test_bad_skus_are_reported_with_row_and_reason(cell, problem):
    shop = make_shop()
    data = f'id,title,skus\nP1,好的,\nP2,坏的,"{cell}"\n'.encode()
    result = services.import_file(shop, "products", data, "p.csv")
    assert not result.imported
    (error,) = result.errors
    assert error.row == 3 and problem in str(error)


def test_phrases_import_with_seat_and_unknown_seat():
    shop = make_shop()
    seat = make_seat(shop)
    data = f"快捷键,内容,客服账号\nfh,下午四点前发货,\nthdz,退货地址是……,{seat.name}\nx,y,ghost\n".encode()
    result = services.import_file(shop, "phrases", data, "p.csv")
    assert not result.imported and [e.row for e in result.errors] == [4]
    result = services.import_file(shop, "phrases", data, "p.csv", skip_bad_rows=True)
    assert result.created == 2
    assert QuickPhrase.objects.get(shop=shop, shortcut="thdz").seat == seat


def test_progress_is_reported_for_large_files():
    shop = make_shop()
    rows = "".join(f"Q{i},other,问题{i},,答案{i},\n" for i in range(1200))
    seen = []
    result = services.import_file(shop, "answers", _csv(rows), "big.csv", progress=lambda d, t: seen.append((d, t)))
    assert result.created == 1200
    assert seen[-1] == (1200, 1200) and len(seen) >= 3
