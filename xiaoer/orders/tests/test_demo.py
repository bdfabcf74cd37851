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


def test_seed_works_when_the_buyers_conversation_has_no_seat_yet(db):
    """A buyer who opened the chat but was not served yet (a visitor conversation): the order
    actions are taken by a supervisor, who may act on any conversation (the demo raised 403)."""
    from xiaoer.chat import services as chat_services
    from xiaoer.testing import make_seat, make_shop, make_staff

    shop = make_shop()
    make_seat(shop, operator=make_staff(shop))
    session = chat_services.start_shopper_session(shop, buyer_signature=chat_services.make_buyer_signature(
        shop, "tb_new", name="新顾客"))
    assert session.conversation.seat_id is None
    demo.seed(shop)
    assert Order.objects.filter(shop=shop, status=OrderStatus.CLOSED).count() == 1
