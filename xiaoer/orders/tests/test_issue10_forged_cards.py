"""Issue 10: a shopper's `card` frame can't claim an order's number, status or amount."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from xiaoer.chat.models import Message
from xiaoer.chat.tests.chatkit import add_conversation, make_scene
from xiaoer.chat.tests.rawws import RawSocket
from xiaoer.orders.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


async def test_order_cards_come_from_the_database_and_only_the_customers_own(live_chat_server):  # noqa: F811
    scene = await sync_to_async(make_scene)()
    mine = await Order.objects.acreate(shop=scene.shop, buyer_id=scene.customer.pk, order_no="3000000000111",
                                       total_amount="59.00", created_at=timezone.now())
    other_customer, _conv, _token = await sync_to_async(add_conversation)(scene.shop, scene.seat)
    await Order.objects.acreate(shop=scene.shop, buyer_id=other_customer.pk, order_no="3000000000222",
                                total_amount="189.00", created_at=timezone.now())
    shopper = await RawSocket.open(live_chat_server, token=scene.token)
    await shopper.recv()
    await shopper.send({"type": "send", "client_id": "c1", "kind": "card",
                        "payload": {"order": "3000000000111", "status": "paid", "status_label": "已付款",
                                    "total_amount": "0.01"}})
    assert (await shopper.until(lambda f: f.get("type") in ("ack", "error")))["type"] == "ack"
    stored = await Message.objects.aget(conversation=scene.conversation, client_id="c1")
    assert stored.payload["order_id"] == mine.pk and stored.payload["status"] == "unpaid"
    assert stored.payload["total_amount"] == "59.00" and stored.body == "订单 3000000000111"
    for i, payload in enumerate(({"order": "3000000000222"},
                                 {"type": "order", "order_no": "3000000000222", "status": "paid",
                                  "total_amount": "189.00"})):
        await shopper.send({"type": "send", "client_id": f"f{i}", "kind": "card", "payload": payload})
        error = await shopper.until(lambda f: f.get("type") == "error")
        assert error["client_id"] == f"f{i}" and error["code"] in ("not_found", "invalid")
    assert await Message.objects.filter(conversation=scene.conversation).acount() == 1
    await shopper.close()
