"""Issue 10: buyers' phone numbers are masked on pages for roles that don't need them (a setting)."""

from __future__ import annotations

import pytest

from xiaoer.accounts import services
from xiaoer.accounts.models import Role
from xiaoer.chat import services as chat_services
from xiaoer.customers import services as customer_services
from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


def test_mask_keeps_the_head_and_the_tail():
    assert services.mask_phone("13812345678") == "138****5678"
    assert services.mask_phone("12345") == "*****"


def test_agents_see_masked_phones_supervisors_whole_and_the_setting_decides(client, settings):
    from zoneinfo import ZoneInfo

    shop = make_shop()
    agent = make_staff(shop, Role.AGENT)
    make_seat(shop, operator=agent)
    buyer = customer_services.get_or_create_buyer(shop, "tb_phone", "小雨")
    buyer.phone = "13912348888"
    buyer.save(update_fields=["phone"])
    conv = chat_services.get_or_create_conversation(shop, buyer)
    row = parsing.clean_order({"order_no": "P1", "buyer_id": "tb_phone", "total_amount": "9", "receiver_name": "小雨",
                               "receiver_phone": "13800001111", "receiver_address": "杭州"}, ZoneInfo("Asia/Shanghai"))
    order_services.do_upsert_order(None, shop, row, source="api")

    def pages(staff) -> str:
        client.login(username=staff.user.username, password=PASSWORD)
        return (client.get(f"/desk/c/{conv.pk}/panel/customer").content.decode()
                + client.get(f"/desk/c/{conv.pk}/orders").content.decode())

    seen = pages(agent)
    assert "139****8888" in seen and "138****1111" in seen
    assert "13912348888" not in seen and "13800001111" not in seen
    whole = pages(owner_of(shop))
    assert "13912348888" in whole and "13800001111" in whole
    settings.PHONE_VISIBLE_ROLES = ["owner", "supervisor", "agent"]
    assert "13912348888" in pages(agent)
