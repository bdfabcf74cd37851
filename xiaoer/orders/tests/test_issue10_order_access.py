"""Issue 10: order actions follow the chat's one access rule (xiaoer.chat.access)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from xiaoer.chat.tests.chatkit import two_seats_scene
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order
from xiaoer.testing import client_for, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_seats():
    return two_seats_scene()


def test_order_actions_refused_where_the_agent_may_not_reply(two_seats):
    shop, me, _my_seat, _other_seat, _mine, theirs = two_seats
    order = Order.objects.create(shop=shop, buyer_id=theirs.customer_id, order_no="3000000000123",
                                 total_amount="189.00", created_at=timezone.now())
    client = client_for(me)
    res = client.post(f"/desk/orders/{order.pk}/close", {"conversation": theirs.pk, "reason": "顾客不要了"})
    assert res.status_code == 403
    assert "不是你的客服账号在接待" in res.content.decode()
    for path, body in ((f"/api/orders/{order.pk}/remind", {}), (f"/api/orders/{order.pk}/close",
                                                                {"reason": "不要了"})):
        res = client.post(path, json.dumps(body), content_type="application/json")
        assert res.status_code == 403, path
    order.refresh_from_db()
    assert order.status == "unpaid"
    panel = client.get(f"/desk/c/{theirs.pk}/orders").content.decode()
    assert "不是你的客服账号在接待" in panel
    assert order_services.do_close_order(owner_of(shop), order, "主管关闭").status == "closed"
