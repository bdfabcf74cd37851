"""The product's own price and stock on the product page (services.do_save_product and the page): the
import file's rules (importer.parse_price/parse_stock), a clear message, never a server error, and a
failed save keeps what was typed and leaves the product as it was."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from xiaoer.knowledge import services
from xiaoer.knowledge.models import Product
from xiaoer.knowledge.tests.test_import_numbers import BAD_PRICES, BAD_STOCKS
from xiaoer.testing import PASSWORD, make_shop, owner_of

pytestmark = pytest.mark.django_db

PRODUCT_BAD_PRICES = [
    ("abc", "价格“abc”不是数字"), ("NaN", "价格超出范围"), ("-1", "价格超出范围"), ("1.234", "价格最多两位小数"),
    ("1e9", "价格超出范围"), ("100000000", "价格超出范围"), ("1e400", "价格超出范围"),
]
PRODUCT_BAD_STOCKS = [
    ("-5", "库存不能是负数"), ("1.5", "库存“1.5”不是整数"), ("1000000000", "库存超出范围"),
    ("99999999999999999999", "库存超出范围"), ("abc", "库存“abc”不是整数"),
]


@pytest.fixture
def shop():
    return make_shop()


@pytest.fixture
def client(shop) -> Client:
    client = Client()
    assert client.login(username=owner_of(shop).user.username, password=PASSWORD)
    return client


@pytest.fixture
def product(shop):
    return services.do_save_product(owner_of(shop), code="T1", title="卫衣", price="199", stock="30")


def _stored(product: Product) -> tuple:
    product.refresh_from_db()
    return product.title, product.price, product.stock


# --- the service ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "message"), PRODUCT_BAD_PRICES)
def test_a_bad_price_is_refused_with_a_clear_message(shop, price, message):
    with pytest.raises(ValidationError) as exc:
        services.do_save_product(owner_of(shop), code="P1", title="风衣", price=price, stock="3")
    assert message in exc.value.messages[0]
    assert not Product.objects.filter(shop=shop).exists()


@pytest.mark.parametrize(("stock", "message"), PRODUCT_BAD_STOCKS)
def test_a_bad_stock_is_refused_with_a_clear_message(shop, stock, message):
    with pytest.raises(ValidationError) as exc:
        services.do_save_product(owner_of(shop), code="P1", title="风衣", price="9", stock=stock)
    assert message in exc.value.messages[0]
    assert not Product.objects.filter(shop=shop).exists()


def test_a_failed_edit_leaves_the_product_as_it_was(shop, product):
    with pytest.raises(ValidationError):
        services.do_save_product(owner_of(shop), instance=product, code="T1", title="新标题", price="NaN", stock="3")
    assert (product.title, product.price, product.stock) == ("卫衣", Decimal("199"), 30)  # the object too
    assert _stored(product) == ("卫衣", Decimal("199"), 30)
    with pytest.raises(ValidationError):
        services.do_save_product(owner_of(shop), instance=product, code="T1", title="新标题", price="9", stock=-5)
    assert _stored(product) == ("卫衣", Decimal("199"), 30)


@pytest.mark.parametrize(("price", "stock", "saved"), [
    ("129", "30", (Decimal("129"), 30)),
    ("129.50", "0", (Decimal("129.5"), 0)),
    ("¥1,299.00", "999999999", (Decimal("1299"), 999999999)),
    ("￥9", " 7 ", (Decimal("9"), 7)),
    ("0", "", (Decimal("0"), 0)),
    ("99999999.99", "1", (Decimal("99999999.99"), 1)),
    ("", "5", (None, 5)),
    (None, None, (None, 0)),
    (Decimal("19.9"), 12, (Decimal("19.9"), 12)),
])
def test_good_values_are_saved(shop, price, stock, saved):
    product = services.do_save_product(owner_of(shop), code="P1", title="风衣", price=price, stock=stock)
    assert (product.price, product.stock) == saved
    product.refresh_from_db()
    assert (product.price, product.stock) == saved


def test_fields_not_given_are_left_alone(shop, product):
    services.do_save_product(owner_of(shop), instance=product, code="T1", title="连帽卫衣")
    assert _stored(product) == ("连帽卫衣", Decimal("199"), 30)


@pytest.mark.parametrize("price", [p for p, _ in BAD_PRICES] + ["0", "129.5", "¥1,299.00"])
@pytest.mark.parametrize("stock", [s for s, _ in BAD_STOCKS] + ["", "0", "7"])
def test_the_page_and_the_import_file_accept_and_refuse_the_same_values(price, stock):
    shop = make_shop()
    try:
        services.do_save_product(owner_of(shop), code="E1", title="页面", price=price, stock=stock)
        page_ok = True
    except ValidationError:
        page_ok = False
    result = services.import_file(shop, "products", f'id,title,price,stock\nF1,文件,"{price}","{stock}"\n'.encode(),
                                  "p.csv")
    assert result.imported == page_ok, result.errors


# --- the page -------------------------------------------------------------------------------------

def _form(**overrides) -> dict:
    return {"code": "P1", "title": "风衣", "category": "外套", "price": "129", "stock": "30", "material": "棉",
            "size_chart": "", "usage": "", "precautions": "", "care": "", "suits": "", "not_suits": "",
            "related": "", "upsell": "", **overrides}


@pytest.mark.parametrize(("field", "value", "message"),
                         [("price", v, m) for v, m in PRODUCT_BAD_PRICES]
                         + [("stock", v, m) for v, m in PRODUCT_BAD_STOCKS])
def test_a_new_product_with_a_bad_number_shows_the_error_and_keeps_what_was_typed(shop, client, field, value,
                                                                                   message):
    res = client.post("/desk/knowledge/products/new", _form(**{field: value}))
    assert res.status_code == 200
    page = res.content.decode()
    assert message in page
    assert f'value="{value}"' in page  # the bad number …
    assert 'value="P1"' in page and 'value="风衣"' in page and ">棉</textarea>" in page  # … and the rest
    assert not Product.objects.filter(shop=shop).exists()


def test_editing_with_a_bad_number_shows_the_error_and_keeps_what_was_typed(client, product):
    url = f"/desk/knowledge/products/{product.id}"
    res = client.post(url, _form(code="T1", title="新标题", price="12.5", stock="-5"))
    assert res.status_code == 200
    page = res.content.decode()
    assert "库存不能是负数" in page
    assert 'value="-5"' in page and 'value="12.5"' in page and 'value="新标题"' in page
    assert f'action="{url}"' in page
    assert _stored(product) == ("卫衣", Decimal("199"), 30)

    res = client.post(url, _form(code="T1", title="新标题", price="abc", stock="5"))
    assert res.status_code == 200 and "价格“abc”不是数字" in res.content.decode()
    assert _stored(product) == ("卫衣", Decimal("199"), 30)


def test_good_numbers_are_saved_from_the_page(shop, client, product):
    res = client.post("/desk/knowledge/products/new", _form(price="¥1,299.50", stock="12"))
    assert res.status_code == 302
    assert Product.objects.filter(shop=shop, code="P1").values_list("price", "stock").get() == (Decimal("1299.50"),
                                                                                                 12)
    res = client.post(f"/desk/knowledge/products/{product.id}", _form(code="T1", title="卫衣", price="", stock=""))
    assert res.status_code == 302
    product.refresh_from_db()
    assert (product.price, product.stock) == (None, 0)


def test_the_page_shows_the_stored_values_when_nothing_was_posted(client, product):
    page = client.get(f"/desk/knowledge/products/{product.id}").content.decode()
    assert 'value="199.00"' in page and 'value="30"' in page and 'value="卫衣"' in page
    page = client.get("/desk/knowledge/products/new").content.decode()
    assert 'name="stock" inputmode="numeric" value="0"' in page
    # a price of 0 is a price, not an empty field (saving the form again must not drop it)
    services.do_save_product(owner_of(product.shop), instance=product, code="T1", title="卫衣", price="0", stock="0")
    page = client.get(f"/desk/knowledge/products/{product.id}").content.decode()
    assert 'name="price" inputmode="decimal" value="0.00"' in page


@pytest.mark.parametrize(("field", "limit"), [("title", 200), ("category", 100)])
def test_text_longer_than_its_column_is_refused_not_a_server_error(field, limit):
    shop = make_shop()
    fields = {"title": "裙", field: "长" * (limit + 1)}
    with pytest.raises(ValidationError, match=str(limit)):
        services.do_save_product(owner_of(shop), code="P1", **fields)
    assert not Product.objects.filter(shop=shop).exists()
    services.do_save_product(owner_of(shop), code="P1", **{**fields, field: "长" * limit})
