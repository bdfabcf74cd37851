"""The transaction rule (docs/design.md): the edge opens the unit of work; do_* join it without a
savepoint, and stay atomic on their own when a caller opened none."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from xiaoer.events.models import OutboxEvent
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order, OrderChange, OrderStatus


def test_inside_the_edge_a_do_function_opens_no_savepoint(world):
    order = world.order()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        order_services.do_close_order(world.agent, order, "顾客不要了")
    assert not [q["sql"] for q in queries if "SAVEPOINT" in q["sql"].upper()]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CLOSED


@pytest.mark.django_db(transaction=True)
def test_called_without_an_edge_a_do_function_is_still_all_or_nothing(world, monkeypatch):
    order = world.order()
    changes, events = OrderChange.objects.count(), OutboxEvent.objects.count()

    def notice_fails(*args, **kwargs):
        raise RuntimeError("notice queue down")

    monkeypatch.setattr(order_services, "_notify_one", notice_fails)  # after the order row is saved
    assert not connection.in_atomic_block
    with pytest.raises(RuntimeError):
        order_services.do_close_order(world.agent, order, "顾客不要了")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
    assert (OrderChange.objects.count(), OutboxEvent.objects.count()) == (changes, events)


def test_an_api_error_rolls_the_whole_operation_back(world):
    from xiaoer.testing import client_for

    order = world.order()
    res = client_for(world.agent).post(f"/api/orders/{order.pk}/close", {"reason": " "},
                                       content_type="application/json")
    assert res.status_code == 400
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
