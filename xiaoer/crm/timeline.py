"""A customer's timeline: conversations, orders, notes, tags — and whatever later areas register
(coupons, questionnaire answers, reminders): `register(kind, provider)` (docs/customers-pages.md).

A provider takes the customer and a limit and returns Entry objects, newest first or in any order;
the timeline merges them, newest first, and keeps LIMIT. Providers read only the customer's shop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer, CustomerNote, CustomerTag
from xiaoer.orders.models import Order


@dataclass(frozen=True, kw_only=True)
class Entry:
    at: dt.datetime
    kind: str  # the provider's kind: "conversation", "order", …
    title: str
    detail: str = ""
    url: str = ""


Provider = Callable[[Customer, int], Iterable[Entry]]
_providers: dict[str, Provider] = {}


def register(kind: str, provider: Provider) -> None:
    """Add (or replace) the provider of KIND; call it from an AppConfig.ready()."""
    _providers[kind] = provider


def timeline(customer: Customer, limit: int = 100) -> list[Entry]:
    entries = [entry for provider in _providers.values() for entry in provider(customer, limit)]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _conversations(customer: Customer, limit: int) -> Iterable[Entry]:
    for conv in (Conversation.objects.filter(customer=customer, shop_id=customer.shop_id)
                 .select_related("seat").order_by("-created_at")[:limit]):
        seat = conv.seat.display_name if conv.seat else _("未分配")
        yield Entry(at=conv.created_at, kind="conversation", title=_("会话 · %(seat)s") % {"seat": seat},
                    detail=conv.last_message_preview, url=reverse("desk"))


def _orders(customer: Customer, limit: int) -> Iterable[Entry]:
    for order in Order.objects.filter(buyer=customer, shop_id=customer.shop_id).order_by("-created_at")[:limit]:
        yield Entry(at=order.created_at, kind="order",
                    title=_("订单 %(no)s · %(status)s") % {"no": order.order_no, "status": order.get_status_display()},
                    detail=f"¥{order.total_amount}")


def _notes(customer: Customer, limit: int) -> Iterable[Entry]:
    for note in (CustomerNote.objects.filter(customer=customer, shop_id=customer.shop_id)
                 .select_related("author")[:limit]):
        author = note.author.display_name if note.author else "—"
        yield Entry(at=note.created_at, kind="note", title=_("备注 · %(author)s") % {"author": author},
                    detail=note.text)


def _tags(customer: Customer, limit: int) -> Iterable[Entry]:
    for link in (CustomerTag.objects.filter(customer=customer, shop_id=customer.shop_id)
                 .select_related("tag", "added_by").order_by("-added_at")[:limit]):
        who = link.added_by.display_name if link.added_by else "—"
        yield Entry(at=link.added_at, kind="tag", title=_("打标签 · %(who)s") % {"who": who}, detail=link.tag.name)


register("conversation", _conversations)
register("order", _orders)
register("note", _notes)
register("tag", _tags)
