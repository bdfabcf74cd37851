"""SKU editing on the product page: the services (rules, shop scope, index freshness) and the pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from xiaoer.accounts.models import Role
from xiaoer.knowledge import importer, services
from xiaoer.knowledge.models import Sku
from xiaoer.testing import client_for, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return make_shop()


@pytest.fixture
def owner(shop):
    return owner_of(shop)


@pytest.fixture
def product(shop):
    return services.do_save_product(owner_of(shop), code="T1", title="卫衣", price=Decimal("199"))


def _add(owner, product, **overrides) -> Sku:
    fields = {"code": "T1-M", "attrs": "颜色=黑, 尺码=M", "price": "129", "stock": "30", **overrides}
    return services.do_save_sku(owner, product, **fields)


# --- services -------------------------------------------------------------------------------------

def test_add_edit_delete_and_each_bumps_the_knowledge_version(owner, product):
    version = services.knowledge_version(product.shop_id)
    sku = _add(owner, product, attrs="颜色=黑，尺码=M")  # a full-width comma is fine too
    sku.refresh_from_db()
    assert (sku.code, sku.attrs, sku.price, sku.stock) == ("T1-M", {"颜色": "黑", "尺码": "M"}, Decimal("129"), 30)
    assert services.knowledge_version(product.shop_id) == version + 1

    same = services.do_save_sku(owner, product, code="T1-M", attrs="颜色=白", price="", stock="", sku=sku)
    same.refresh_from_db()
    assert (same.pk, same.attrs, same.price, same.stock) == (sku.pk, {"颜色": "白"}, None, 0)
    assert services.knowledge_version(product.shop_id) == version + 2

    services.do_delete_sku(owner, same)
    assert not Sku.objects.filter(product=product).exists()
    assert services.knowledge_version(product.shop_id) == version + 3


def test_attrs_may_be_a_dict_and_edited_skus_round_trip_through_export(owner, product):
    services.do_save_sku(owner, product, code="T1-S", attrs={"颜色": "黑", "尺码": "S"}, price=Decimal("9.5"),
                         stock=3)
    _add(owner, product)
    header, rows = services.export_rows(product.shop, "products")
    cell = rows[0][header.index("skus")]
    assert [s["code"] for s in importer.parse_skus(cell)] == ["T1-S", "T1-M"]
    assert importer.parse_skus(cell)[0]["attrs"] == {"颜色": "黑", "尺码": "S"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"code": "  "}, "SKU 编号不能为空"),
    ({"code": "X" * 65}, "SKU 编号不能超过 64 个字符"),
    ({"code": "T1:M"}, "SKU 编号只能包含字母、数字、下划线、点和减号"),
    ({"attrs": "颜色黑"}, "属性“颜色黑”应写成 属性=值"),
    ({"attrs": "颜色="}, "应写成 属性=值"),
    ({"attrs": "=黑"}, "应写成 属性=值"),
    ({"attrs": "颜色=黑, 颜色=白"}, "属性“颜色”重复"),
    ({"attrs": "颜色=黑:白"}, "不能含有"),
    ({"attrs": "颜色=黑|白"}, "不能含有"),
    ({"attrs": "颜色=" + "黑" * 41}, "太长"),
    ({"stock": "-1"}, "SKU 库存不能是负数"),
    ({"stock": "3.5"}, "SKU 库存“3.5”不是整数"),
    ({"price": "abc"}, "SKU 价格“abc”不是数字"),
    ({"price": "-1"}, "SKU 价格超出范围"),
    ({"price": "NaN"}, "SKU 价格超出范围"),
    ({"price": "1e9"}, "SKU 价格超出范围"),
    ({"price": "1.234"}, "SKU 价格最多两位小数"),
])
def test_bad_input_is_refused_with_a_clear_message(owner, product, fields, message):
    with pytest.raises(ValidationError) as exc:
        _add(owner, product, **fields)
    assert message in exc.value.messages[0]
    assert not Sku.objects.filter(product=product).exists()


def test_code_is_unique_within_the_product_only(owner, shop, product):
    sku = _add(owner, product)
    with pytest.raises(ValidationError, match="SKU 编号“T1-M”在这个商品里已被使用"):
        _add(owner, product)
    other = _add(owner, product, code="T1-L")
    with pytest.raises(ValidationError, match="已被使用"):  # renaming onto a taken code
        services.do_save_sku(owner, product, code="T1-M", attrs="", price="", stock=0, sku=other)
    services.do_save_sku(owner, product, code="T1-M", attrs="", price="", stock=1, sku=sku)  # its own code
    second = services.do_save_product(owner_of(shop), code="T2", title="外套")
    assert _add(owner, second).code == "T1-M"


def test_a_failed_edit_leaves_the_sku_as_it_was(owner, product):
    sku = _add(owner, product)
    with pytest.raises(ValidationError):
        services.do_save_sku(owner, product, code="T1-X", attrs="颜色=白", price="1", stock="-5", sku=sku)
    assert sku.code == "T1-M"
    sku.refresh_from_db()
    assert (sku.code, sku.stock) == ("T1-M", 30)


def test_another_shops_sku_is_not_found_and_agents_cannot_write(owner, shop, product):
    sku = _add(owner, product)
    stranger = owner_of(make_shop())
    with pytest.raises(Http404):
        services.access_sku(stranger, product, sku.id)
    with pytest.raises(Http404):
        _add(stranger, product, code="T1-Z")
    with pytest.raises(Http404):
        services.do_delete_sku(stranger, sku)
    second = services.do_save_product(owner_of(shop), code="T2", title="外套")
    with pytest.raises(Http404):  # a SKU is reached through its own product only
        services.access_sku(owner, second, sku.id)
    with pytest.raises(PermissionDenied):
        _add(make_staff(shop, role=Role.AGENT), product, code="T1-Z")
    assert list(Sku.objects.values_list("code", flat=True)) == ["T1-M"]


# --- pages ----------------------------------------------------------------------------------------

def test_owner_adds_edits_and_deletes_skus_on_the_product_page(owner, product):
    client = client_for(owner)
    page_url = f"/desk/knowledge/products/{product.id}"
    assert "还没有 SKU" in client.get(page_url).content.decode()

    res = client.post(f"{page_url}/skus/new", {"code": "T1-M", "attrs": "颜色=黑, 尺码=M", "price": "129",
                                                 "stock": "30"})
    assert res.status_code == 302 and res["Location"] == f"{page_url}#skus"
    page = client.get(page_url).content.decode()
    assert "T1-M" in page and "颜色=黑, 尺码=M" in page and "129" in page
    sku = Sku.objects.get(product=product)

    form = client.get(f"{page_url}/skus/{sku.id}").content.decode()
    assert 'value="颜色=黑, 尺码=M"' in form and f'action="{page_url}/skus/{sku.id}"' in form
    res = client.post(f"{page_url}/skus/{sku.id}", {"code": "T1-M", "attrs": "颜色=白", "price": "", "stock": "8"})
    assert res.status_code == 302
    sku.refresh_from_db()
    assert (sku.attrs, sku.price, sku.stock) == ({"颜色": "白"}, None, 8)

    assert client.post(f"{page_url}/skus/{sku.id}/delete").status_code == 302
    assert not Sku.objects.filter(product=product).exists()


def test_a_bad_sku_shows_the_error_and_keeps_what_was_typed(owner, product):
    client = client_for(owner)
    res = client.post(f"/desk/knowledge/products/{product.id}/skus/new",
                      {"code": "T1-M", "attrs": "颜色=黑", "price": "129", "stock": "-3"})
    page = res.content.decode()
    assert res.status_code == 200 and "SKU 库存不能是负数" in page
    assert 'value="-3"' in page and 'value="颜色=黑"' in page
    # the product form on this page still posts to the product, not to the SKU route
    assert f'action="/desk/knowledge/products/{product.id}"' in page
    assert not Sku.objects.filter(product=product).exists()


def test_another_shops_sku_is_404_on_the_pages(owner, product):
    sku = _add(owner, product)
    other_shop = make_shop()
    stranger = client_for(owner_of(other_shop))
    base = f"/desk/knowledge/products/{product.id}/skus"
    assert stranger.get(f"{base}/{sku.id}").status_code == 404
    assert stranger.post(f"{base}/{sku.id}", {"code": "HACK", "stock": "1"}).status_code == 404
    assert stranger.post(f"{base}/{sku.id}/delete").status_code == 404
    assert stranger.post(f"{base}/new", {"code": "HACK", "stock": "1"}).status_code == 404
    # the stranger's own product with this shop's SKU id
    theirs = services.do_save_product(owner_of(other_shop), code="T1", title="别家")
    assert stranger.post(f"/desk/knowledge/products/{theirs.id}/skus/{sku.id}/delete").status_code == 404
    sku.refresh_from_db()
    assert sku.code == "T1-M" and Sku.objects.count() == 1


def test_read_only_roles_see_skus_but_cannot_change_them(owner, shop, product):
    sku = _add(owner, product)
    agent = client_for(make_staff(shop, role=Role.AGENT))
    base = f"/desk/knowledge/products/{product.id}"
    page = agent.get(base)
    assert page.status_code == 200
    body = page.content.decode()
    assert "T1-M" in body and "添加 SKU" not in body and "/delete" not in body
    assert agent.post(f"{base}/skus/new", {"code": "T1-L", "stock": "1"}).status_code == 403
    assert agent.post(f"{base}/skus/{sku.id}", {"code": "T1-X", "stock": "1"}).status_code == 403
    assert agent.post(f"{base}/skus/{sku.id}/delete").status_code == 403
    warehouse = client_for(make_staff(shop, role=Role.WAREHOUSE))
    assert warehouse.post(f"{base}/skus/new", {"code": "T1-L", "stock": "1"}).status_code == 403
    assert list(Sku.objects.values_list("code", "stock")) == [("T1-M", 30)]


def test_attribute_values_are_escaped(owner, product):
    _add(owner, product, attrs="颜色=<script>alert(1)</script>")
    client = client_for(owner)
    page = client.get(f"/desk/knowledge/products/{product.id}").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    sku = Sku.objects.get(product=product)
    form = client.get(f"/desk/knowledge/products/{product.id}/skus/{sku.id}").content.decode()
    assert "<script>alert(1)" not in form and 'value="颜色=&lt;script&gt;' in form
