"""Customers and their shop-level notes (docs/design.md "Layers"; docs/decisions/003).

Notes belong to the shop, not to an agent: they stay when a seat changes hands, and record the
seat and the person who wrote them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Seat, Shop, Staff
from xiaoer.customers.models import Customer, CustomerNote

NOTE_MAX_CHARS = 2000


def access_customer(staff: Staff, customer_id: int) -> Customer:
    """The customer CUSTOMER_ID of STAFF's shop, for a person allowed to read chats."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return Customer.objects.select_related("last_seat").get(pk=customer_id, shop_id=staff.shop_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404("customer not found") from None


def check_note_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("备注不能为空"))
    if len(text) > NOTE_MAX_CHARS:
        raise ValidationError(_("备注最多 %(n)s 个字") % {"n": NOTE_MAX_CHARS})
    return text


def do_add_note(staff: Staff, customer: Customer, text: str, *, seat: Seat | None = None) -> CustomerNote:
    """Add a shop-level note; SEAT is the seat the author wrote it as (must be in the same shop)."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    if customer.shop_id != staff.shop_id or (seat is not None and seat.shop_id != staff.shop_id):
        raise Http404("customer not found")
    return CustomerNote.objects.create(shop_id=staff.shop_id, customer=customer, seat=seat, author=staff,
                                       text=check_note_text(text))


def notes_for(customer: Customer, limit: int = 50) -> list[CustomerNote]:
    return list(CustomerNote.objects.filter(customer=customer, shop_id=customer.shop_id)
                .select_related("seat", "author")[:limit])


def surviving(customer: Customer) -> Customer:
    """The customer that stands for CUSTOMER today: itself, or the one it was merged into. Merges
    keep chains flat (merged_into always names a customer that was not merged), so one hop."""
    if customer.merged_into_id is None:
        return customer
    return Customer.objects.select_related("shop").get(pk=customer.merged_into_id)


def get_or_create_visitor(shop: Shop, visitor_id: str) -> Customer:
    customer, _ = Customer.objects.get_or_create(shop=shop, visitor_id=visitor_id)
    return surviving(customer)


def get_or_create_buyer(shop: Shop, buyer_id: str, name: str = "") -> Customer:
    customer, created = Customer.objects.get_or_create(shop=shop, buyer_id=buyer_id,
                                                       defaults={"name": name[:100]})
    customer = surviving(customer)
    if not created and name and not customer.name and customer.anonymised_at is None:
        customer.name = name[:100]
        customer.save(update_fields=["name"])
    return customer


def shopper_customer(shop: Shop, customer_id: int) -> Customer | None:
    """The customer a shopper token names, if they are of SHOP (the surviving one after a merge)."""
    customer = Customer.objects.select_related("shop").filter(pk=customer_id, shop=shop).first()
    return surviving(customer) if customer is not None else None


def do_touch(customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(last_seen_at=timezone.now())
