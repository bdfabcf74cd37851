"""The durable listener ``kpi.rollups`` (decision 155). Cheap on purpose: it notes which buyers
(and days) changed, in the delivery's transaction; ``compute.process_dirty`` recomputes them in
short transactions right after (a task) and every minute. A redelivery notes them again: the
recompute is the same."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from xiaoer.chat.events import HistoryImported, MessagesCommitted
from xiaoer.chat.models import Conversation
from xiaoer.kpi import compute
from xiaoer.kpi.models import Dirty, OrderFact
from xiaoer.orders.models import Order


def _queue_processing() -> None:
    from xiaoer.kpi import tasks

    transaction.on_commit(tasks.queue_process_dirty)


def on_messages(event: MessagesCommitted) -> None:
    at = dt.datetime.fromisoformat(event.created_at)
    conv_ids = {row[0] for row in event.messages}
    pairs = set(Conversation.objects.filter(pk__in=conv_ids).values_list("shop_id", "customer_id"))
    Dirty.objects.bulk_create([Dirty(shop_id=s, customer_id=c, messages_at=at) for s, c in sorted(pairs)])
    _queue_processing()


def on_history(event: HistoryImported) -> None:
    Dirty.objects.bulk_create([Dirty(shop_id=event.shop_id, customer_id=customer_id,
                                     messages_at=dt.datetime.fromisoformat(first))
                               for _conv, customer_id, first in event.conversations])
    _queue_processing()


def on_orders(event) -> None:
    """Any order event: the orders' buyers from the day of each order's creation (the day before
    is reloaded too); facts of these orders go first — a buyer may have changed."""
    shop_id, order_ids = event.shop_id, list(event.order_ids)
    stale = OrderFact.objects.filter(shop_id=shop_id, order_id__in=order_ids)
    days = compute.days_of(stale, "day", "inquiry_day", "reminded_day")
    previous = set(stale.exclude(customer_id=None).values_list("customer_id", flat=True))
    stale.delete()
    rows: list[Dirty] = [Dirty(shop_id=shop_id, day=d) for d in sorted(days)]
    current: set[int] = set()
    loose: list[int] = []
    for order_id, buyer_id, created_at in Order.objects.filter(shop_id=shop_id, id__in=order_ids).values_list(
            "id", "buyer_id", "created_at"):
        if buyer_id is None:
            loose.append(order_id)
            continue
        current.add(buyer_id)
        rows.append(Dirty(shop_id=shop_id, customer_id=buyer_id, orders_day=created_at.date() - dt.timedelta(days=1)))
    rows += [Dirty(shop_id=shop_id, customer_id=c, full=True) for c in sorted(previous - current)]
    if loose:
        from xiaoer.accounts.models import Shop

        ctx = compute.ShopContext(Shop.objects.get(pk=shop_id))
        rows += [Dirty(shop_id=shop_id, day=d) for d in sorted(compute.recompute_orders_without_buyer(ctx, loose))]
    Dirty.objects.bulk_create(rows)
    _queue_processing()
