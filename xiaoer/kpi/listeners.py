"""The durable listener ``kpi.rollups`` (decision 155): touched buyers' facts, then the touched
days' rollups, in the delivery's transaction (a redelivery recomputes the same rows)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from xiaoer.accounts.models import Shop
from xiaoer.chat.events import HistoryImported, MessagesCommitted
from xiaoer.chat.models import Conversation
from xiaoer.kpi import compute
from xiaoer.kpi.models import OrderFact
from xiaoer.orders.models import Order


def _earliest(shop_id: int, firsts: dict[int, dt.datetime]) -> None:
    """Recompute each buyer of FIRSTS (customer → earliest new message) and the days touched."""
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None:
        return
    ctx = compute.ShopContext(shop)
    days: set[dt.date] = set()
    for customer_id, earliest in sorted(firsts.items()):
        start = compute.messages_from_day(ctx, customer_id, earliest)
        if start is None:  # never answered before: from the buyer's first message
            days |= compute.recompute_buyer(ctx, customer_id, messages_from=None, orders_from=None)
        else:
            days |= compute.recompute_buyer(ctx, customer_id, messages_from=start, orders_from=None)
    compute.rollup_days(shop, days)


def on_messages(event: MessagesCommitted) -> None:
    conv_ids = {row[0] for row in event.messages}
    at = dt.datetime.fromisoformat(event.created_at)
    per_shop: dict[int, dict[int, dt.datetime]] = defaultdict(dict)
    for shop_id, customer_id in Conversation.objects.filter(pk__in=conv_ids).values_list("shop_id", "customer_id"):
        per_shop[shop_id][customer_id] = at
    for shop_id, firsts in sorted(per_shop.items()):
        _earliest(shop_id, firsts)


def on_history(event: HistoryImported) -> None:
    firsts: dict[int, dt.datetime] = {}
    for _conv, customer_id, first in event.conversations:
        at = dt.datetime.fromisoformat(first)
        firsts[customer_id] = min(at, firsts.get(customer_id, at))
    _earliest(event.shop_id, firsts)


def on_orders(event) -> None:
    """Any order event: the orders' buyers from the day before each order's creation."""
    shop = Shop.objects.filter(pk=event.shop_id).first()
    if shop is None:
        return
    ctx = compute.ShopContext(shop)
    order_ids = list(event.order_ids)
    # facts of these orders go first: a buyer may have changed (the new buyer's recompute adds them again)
    stale = OrderFact.objects.filter(shop=shop, order_id__in=order_ids)
    days = compute.days_of(stale, "day", "inquiry_day", "reminded_day")
    previous = set(stale.exclude(customer_id=None).values_list("customer_id", flat=True))
    stale.delete()
    starts: dict[int, dt.date] = {}
    loose: list[int] = []
    for order_id, buyer_id, created_at in Order.objects.filter(shop=shop, id__in=order_ids).values_list(
            "id", "buyer_id", "created_at"):
        if buyer_id is None:
            loose.append(order_id)
            continue
        day = ctx.day(created_at)
        starts[buyer_id] = min(day, starts.get(buyer_id, day))
    for customer_id in previous - starts.keys():  # lost an order: its inquiries' flags change
        starts[customer_id] = min(days) if days else None
    for customer_id, day in sorted(starts.items()):
        if day is None:
            days |= compute.recompute_buyer(ctx, customer_id, messages_from=None, orders_from=None)
        else:
            days |= compute.recompute_buyer(ctx, customer_id, messages_from=None, orders_from=day)
    days |= compute.recompute_orders_without_buyer(ctx, loose)
    compute.rollup_days(shop, days)
