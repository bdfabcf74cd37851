"""Each role gets from /api/orders/ what its tasks need (issue 10, Security: data minimisation):
the warehouse and after-sales no receiver name, phone or address; phones masked for roles not in
PHONE_VISIBLE_ROLES."""

from __future__ import annotations

import pytest

from xiaoer.accounts.models import Role
from xiaoer.orders import services as order_services
from xiaoer.orders.models import OrderSource
from xiaoer.testing import client_for, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    shop = make_shop()
    order_services.do_upsert_order(None, shop, {"order_no": "M1", "receiver_name": "王五", "receiver_phone": "13712345678",
                                          "receiver_address": "浙江省杭州市西湖区文三路 1 号", "items": []},
                                   source=OrderSource.IMPORT, reason="test")
    return shop


def _listed(staff) -> dict:
    response = client_for(staff).get("/api/orders/")
    assert response.status_code == 200
    (order,) = response.json()["orders"]
    return order


@pytest.mark.parametrize("role", [Role.WAREHOUSE, Role.AFTERSALES])
def test_warehouse_and_aftersales_get_no_contact_details(shop, role):
    order = _listed(make_staff(shop, role))
    assert order["order_no"] == "M1"
    assert order["receiver_name"] is None and order["receiver_phone"] is None and order["receiver_address"] is None
    detail = client_for(make_staff(shop, role)).get(f"/api/orders/{order['id']}").json()
    assert "13712345678" not in str(detail) and "文三路" not in str(detail)


def test_agents_see_the_address_and_a_masked_phone_owner_sees_it_whole(shop):
    agent = _listed(make_staff(shop, Role.AGENT))
    assert agent["receiver_address"].endswith("文三路 1 号") and agent["receiver_phone"] == "137****5678"
    assert _listed(owner_of(shop))["receiver_phone"] == "13712345678"


def test_roles_are_a_setting(shop, settings):
    settings.PHONE_VISIBLE_ROLES = ["owner", "supervisor", "agent"]
    settings.ORDER_CONTACT_ROLES = ["owner", "supervisor", "agent", "aftersales"]
    assert _listed(make_staff(shop, Role.AGENT))["receiver_phone"] == "13712345678"
    assert _listed(make_staff(shop, Role.AFTERSALES))["receiver_phone"] == "137****5678"
