from __future__ import annotations

from xiaoer.orders import demo
from xiaoer.orders.models import Order, OrderStatus, Task


def test_seed_makes_orders_in_various_states_once(world):
    demo.seed(world.shop)
    demo.seed(world.shop)
    statuses = sorted(Order.objects.filter(shop=world.shop).values_list("status", flat=True))
    assert statuses == sorted([OrderStatus.UNPAID, OrderStatus.CLOSED, OrderStatus.PAID, OrderStatus.SHIPPED,
                               OrderStatus.COMPLETED, OrderStatus.AWAITING_STOCK_CHECK])
    assert Task.objects.filter(shop=world.shop).count() == 2
