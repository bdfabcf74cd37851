"""crm's domain operations (docs/customers.md). Levels: the shop's VIP 1–N rules and the value
read model the pages and the side panel show."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from xiaoer.accounts.models import Staff
from xiaoer.accounts.services import CHAT_ROLES, SUPERVISOR_ROLES, require_role
from xiaoer.crm.models import CustomerValue, LevelBasis, LevelRule
from xiaoer.customers.models import Customer

MAX_LEVELS = 20
MAX_THRESHOLD = Decimal("999999999999.99")


# --- levels --------------------------------------------------------------------------------------

def levels_of(staff: Staff) -> list[LevelRule]:
    require_role(staff, CHAT_ROLES)
    return list(LevelRule.objects.filter(shop_id=staff.shop_id).order_by("level"))


def _threshold(value) -> Decimal:
    if len(str(value)) > 20:
        raise ValidationError(_("门槛必须是数字"))
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationError(_("门槛必须是数字")) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_THRESHOLD:
        raise ValidationError(_("门槛必须在 0 到 999999999999.99 之间"))
    return amount


def _clean_levels(rules: list[dict]) -> list[tuple[str, str, Decimal]]:
    """RULES in level order (the first is VIP 1) → (name, basis, threshold); a higher level is
    never easier to reach than a lower one on the same basis."""
    if len(rules) > MAX_LEVELS:
        raise ValidationError(_("最多 %(n)s 个等级") % {"n": MAX_LEVELS})
    clean: list[tuple[str, str, Decimal]] = []
    last: dict[str, Decimal] = {}
    names: set[str] = set()
    for position, rule in enumerate(rules, start=1):
        name = str(rule.get("name") or "").strip()
        if not name or len(name) > 20:
            raise ValidationError(_("第 %(n)s 个等级的名称必须是 1 到 20 个字") % {"n": position})
        if name in names:
            raise ValidationError(_("等级名称重复：%(name)s") % {"name": name})
        basis = str(rule.get("basis") or LevelBasis.TOTAL_PAID)
        if basis not in LevelBasis.values:
            raise ValidationError(_("第 %(n)s 个等级的依据不对") % {"n": position})
        threshold = _threshold(rule.get("threshold"))
        if basis == LevelBasis.PAID_ORDERS and threshold != threshold.to_integral_value():
            raise ValidationError(_("成交笔数门槛必须是整数"))
        if basis in last and threshold <= last[basis]:
            raise ValidationError(_("第 %(n)s 个等级的门槛必须高于前面同一依据的等级") % {"n": position})
        names.add(name)
        last[basis] = threshold
        clean.append((name, basis, threshold))
    return clean


def do_set_levels(staff: Staff, rules: list[dict]) -> list[LevelRule]:
    """Replace the shop's levels by RULES (owner or supervisor): level N is the Nth rule. Every
    customer's level is set again at once (one UPDATE per level: the highest reached wins)."""
    require_role(staff, SUPERVISOR_ROLES)
    clean = _clean_levels(rules)
    with transaction.atomic(savepoint=False):
        LevelRule.objects.filter(shop_id=staff.shop_id).delete()
        saved = LevelRule.objects.bulk_create([
            LevelRule(shop_id=staff.shop_id, level=n, name=name, basis=basis, threshold=threshold)
            for n, (name, basis, threshold) in enumerate(clean, start=1)])
        apply_levels(staff.shop_id, saved)
    return saved


def apply_levels(shop_id: int, rules: list[LevelRule]) -> None:
    values = CustomerValue.objects.filter(shop_id=shop_id)
    values.exclude(level=0).update(level=0)
    for rule in sorted(rules, key=lambda r: r.level):
        values.filter(**{f"{rule.basis}__gte": rule.threshold}).update(level=rule.level)


# --- the value read model ------------------------------------------------------------------------

def access_customer(staff: Staff, customer_id: int) -> Customer:
    """A customer of STAFF's shop, else 404 (another shop's id is simply not found)."""
    customer = Customer.objects.filter(pk=customer_id, shop_id=staff.shop_id).first()
    if customer is None:
        raise Http404("not found")
    return customer


def value_of(staff: Staff, customer_id: int) -> dict:
    """A customer's value, level and RFM snapshot as JSON-able values (zeros when no orders yet)."""
    require_role(staff, CHAT_ROLES)
    customer = access_customer(staff, customer_id)
    value = CustomerValue.objects.filter(customer=customer).first() or CustomerValue(customer=customer)
    names = dict(LevelRule.objects.filter(shop_id=staff.shop_id).values_list("level", "name"))
    average = (value.total_paid / value.paid_orders).quantize(Decimal("0.01")) if value.paid_orders else None
    return {
        "customer_id": customer.pk, "paid_orders": value.paid_orders,
        "total_paid": f"{Decimal(value.total_paid):.2f}", "refunded": f"{Decimal(value.refunded):.2f}",
        "refund_orders": value.refund_orders,
        "average_unit_price": f"{average:.2f}" if average is not None else None,
        "first_purchase_at": value.first_purchase_at.isoformat() if value.first_purchase_at else None,
        "last_purchase_at": value.last_purchase_at.isoformat() if value.last_purchase_at else None,
        "purchase_cycle_days": value.purchase_cycle_days,
        "level": value.level, "level_name": names.get(value.level, ""),
        "rfm_as_of": value.rfm_as_of.isoformat() if value.rfm_as_of else None,
        "recency_days": value.recency_days, "r": value.r, "f": value.f, "m": value.m,
        "rfm_segment": value.rfm_segment,
    }
