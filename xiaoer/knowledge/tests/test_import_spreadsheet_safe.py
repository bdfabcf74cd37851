"""Knowledge files saved by a spreadsheet: codes written ``'…``, ``="…"`` or after a tab are read as
the code; a code destroyed by scientific notation is a row error saying so (issue 10, Broken 5)."""

from __future__ import annotations

import pytest

from xiaoer.knowledge import services
from xiaoer.knowledge.models import Product
from xiaoer.testing import make_shop

pytestmark = pytest.mark.django_db


def test_products_with_spreadsheet_safe_codes_gbk():
    shop = make_shop()
    lines = ["商品编号,商品名称,价格,库存",
             "'600123456789012345,羊毛大衣,'129.00,'30",
             '="600123456789012346",羊绒围巾,="59.5",="10"',
             "\t600123456789012347,真丝衬衫,\t199,\t5"]
    broken = services.import_file(shop, "products", "\r\n".join([*lines, "6.00123456789012E+17,坏掉的编号,10,1"])
                                  .encode("gbk"), "products.csv")
    (error,) = broken.errors  # a file with errors imports nothing (knowledge files are all or nothing)
    assert error.row == 5 and "科学计数法" in str(error)
    result = services.import_file(shop, "products", "\r\n".join(lines).encode("gbk"), "products.csv")
    assert result.imported and result.created == 3, result.errors
    codes = dict(Product.objects.filter(shop=shop).values_list("code", "price"))
    assert set(codes) == {"600123456789012345", "600123456789012346", "600123456789012347"}
    assert str(codes["600123456789012346"]) == "59.50"
