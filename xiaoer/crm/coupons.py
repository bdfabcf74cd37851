"""Coupons: batches the shop defines, coupons issued to customers, redemptions from orders.

General on purpose: questionnaires, birthday care, and later revisits and after-sales issue
through ``do_issue_coupon`` (a person, or ``None`` for a rule with RULE naming it). At most one
coupon per customer per batch is a database constraint, and a batch's count limit moves by a
conditional UPDATE, so neither a double submit nor two workers issue more
(docs/customers-care.md, docs/decisions/145).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Shop, Staff
from xiaoer.crm.models import Coupon, CouponBatch, CouponKind, CouponReason
from xiaoer.customers.models import Customer
from xiaoer.orders.models import Order

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: a code read out over the phone or typed from a screenshot survives.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12  # 31^12 ≈ 2^59: unguessable, and tried codes are never confirmed to another shop
MANAGE_ROLES = account_services.SUPERVISOR_ROLES
MAX_VALID_DAYS = 3650


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """What a person or a spreadsheet typed → the stored form (dashes, spaces and case ignored)."""
    return "".join(ch for ch in str(code or "").upper() if ch.isalnum())[:40]


def show_code(code: str) -> str:
    """ABCD-EFGH-JKMN: easier to read aloud."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


# --- batches ---------------------------------------------------------------------------------

def _decimal(value, label: str, *, low: Decimal, high: Decimal) -> Decimal:
    try:
        number = Decimal(str(value if value not in (None, "") else "0")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationError(_("%(label)s 不是数字") % {"label": label}) from None
    if not low <= number <= high:
        raise ValidationError(_("%(label)s 超出范围") % {"label": label})
    return number


def check_batch(*, name: str, kind: str, value, threshold=0, valid_from: dt.datetime | None = None,
                valid_until: dt.datetime | None = None, valid_days: int | None = None,
                limit: int | None = None) -> dict:
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise ValidationError(_("券名不能为空，最长 40 字"))
    if kind not in CouponKind.values:
        raise ValidationError(_("未知的券类型"))
    top = Decimal("99") if kind == CouponKind.PERCENT else Decimal("100000")
    value = _decimal(value, _("面额"), low=Decimal("0.01"), high=top)
    threshold = _decimal(threshold, _("使用门槛"), low=Decimal(0), high=Decimal("1000000"))
    if valid_days is not None and not 1 <= int(valid_days) <= MAX_VALID_DAYS:
        raise ValidationError(_("有效天数应在 1 到 3650 之间"))
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationError(_("结束时间应晚于开始时间"))
    if limit is not None and not 1 <= int(limit) <= 10_000_000:
        raise ValidationError(_("发放上限应在 1 到 10000000 之间"))
    return {"name": name, "kind": kind, "value": value, "threshold": threshold, "valid_from": valid_from,
            "valid_until": valid_until, "valid_days": int(valid_days) if valid_days else None,
            "limit": int(limit) if limit else None}


def do_create_batch(staff: Staff, **fields) -> CouponBatch:
    account_services.require_role(staff, MANAGE_ROLES)
    values = check_batch(**fields)
    with transaction.atomic(savepoint=False):
        return CouponBatch.objects.create(shop_id=staff.shop_id, created_by=staff, **values)


def do_set_batch_active(staff: Staff, batch: CouponBatch, active: bool) -> CouponBatch:
    account_services.require_role(staff, MANAGE_ROLES)
    batch.active = bool(active)
    batch.save(update_fields=["active"])
    return batch


def access_batch(staff: Staff, batch_id: int) -> CouponBatch:
    account_services.require_role(staff, MANAGE_ROLES)
    try:
        return CouponBatch.objects.get(pk=batch_id, shop_id=staff.shop_id)
    except (CouponBatch.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("batch not found") from None


def batch_for_shop(shop_id: int, batch_id: int | None) -> CouponBatch | None:
    """A batch of SHOP_ID named in a form (None when empty); Http404 for another shop's."""
    if not batch_id:
        return None
    batch = CouponBatch.objects.filter(pk=batch_id, shop_id=shop_id).first()
    if batch is None:
        raise Http404("batch not found")
    return batch


# --- issuing ---------------------------------------------------------------------------------

def _expiry(batch: CouponBatch, issued_at: dt.datetime) -> dt.datetime | None:
    ends = [t for t in (batch.valid_until,
                        issued_at + dt.timedelta(days=batch.valid_days) if batch.valid_days else None) if t]
    return min(ends) if ends else None


def do_issue_coupon(staff: Staff | None, batch: CouponBatch, customer: Customer, *, reason: str,
                    rule: str = "", now: dt.datetime | None = None) -> tuple[Coupon, bool]:
    """Issue BATCH to CUSTOMER. Returns (coupon, created): a customer who already holds one of
    the batch gets that one back (created False) — at most once per customer per batch, also
    under a double submit or two workers. STAFF None: a rule (RULE says which) issued it.
    ValidationError when the batch is inactive, out of its window or used up."""
    if staff is not None:
        account_services.require_role(staff, MANAGE_ROLES)
        if staff.shop_id != batch.shop_id:
            raise Http404("batch not found")
    if customer.shop_id != batch.shop_id:
        raise Http404("customer not found")
    if reason not in CouponReason.values:
        raise ValidationError(_("未知的发券原因"))
    now = now or timezone.now()
    existing = Coupon.objects.filter(batch=batch, customer=customer).first()
    if existing is not None:
        return existing, False
    _check_issuable(batch, now)
    coupon = None
    # Errors are raised after the block: a ValidationError inside it would doom the caller's
    # transaction (docs/design.md "One transaction rule").
    with transaction.atomic(savepoint=False):
        try:
            with transaction.atomic():  # savepoint: a concurrent twin rolls back the count too
                if CouponBatch.objects.filter(Q(limit__isnull=True) | Q(issued_count__lt=F("limit")),
                                              pk=batch.pk).update(issued_count=F("issued_count") + 1):
                    coupon = _insert_coupon(staff, batch, customer, reason, rule, now)
        except IntegrityError:
            existing = Coupon.objects.filter(batch=batch, customer=customer).first()
            if existing is None:
                raise
            return existing, False
    if coupon is None:
        raise ValidationError(_("这批券已经发完了"))
    return coupon, True


def _check_issuable(batch: CouponBatch, now: dt.datetime) -> None:
    if not batch.active:
        raise ValidationError(_("这批券已停用"))
    if batch.valid_until and batch.valid_until <= now:
        raise ValidationError(_("这批券已过期"))


def _insert_coupon(staff: Staff | None, batch: CouponBatch, customer: Customer, reason: str, rule: str,
                   now: dt.datetime) -> Coupon:
    for _attempt in range(5):  # a code collision is ~2^-59; retry rather than fail
        code = new_code()
        if not Coupon.objects.filter(code=code).exists():
            break
    return Coupon.objects.create(shop_id=batch.shop_id, batch=batch, customer=customer, code=code, reason=reason,
                                 issued_by=staff, rule=rule[:40], issued_at=now, expires_at=_expiry(batch, now))


def access_coupon(staff: Staff, code: str) -> Coupon:
    account_services.require_role(staff, MANAGE_ROLES)
    coupon = Coupon.objects.select_related("batch", "customer", "order").filter(
        code=normalise_code(code), shop_id=staff.shop_id).first()
    if coupon is None:
        raise Http404("coupon not found")
    return coupon


# --- redeeming -------------------------------------------------------------------------------

def check_redeemable(coupon: Coupon, order: Order) -> None:
    """Why ORDER cannot be recorded as COUPON's redemption (ValidationError), or nothing.
    The order is a fact from the platform: the threshold was the shop's business when the
    buyer paid, so it is not re-checked here (decision 145)."""
    if order.shop_id != coupon.shop_id:
        raise Http404("order not found")
    if coupon.order_id and coupon.order_id != order.pk:
        raise ValidationError(_("这张券已被订单 %(no)s 使用") % {"no": coupon.order.order_no if coupon.order else "?"})
    if order.buyer_id and order.buyer_id != coupon.customer_id and not _same_person(order.buyer_id, coupon.customer_id):
        raise ValidationError(_("这张券不是发给这个订单的买家的"))
    if coupon.expires_at and order.created_at > coupon.expires_at:
        raise ValidationError(_("下单时这张券已过期"))


def _same_person(a: int, b: int) -> bool:
    """Merged customers (the absorbed row points at the kept one) are one person."""
    rows = dict(Customer.objects.filter(pk__in=[a, b]).values_list("pk", "merged_into_id"))
    return rows.get(a) == b or rows.get(b) == a or (rows.get(a) is not None and rows.get(a) == rows.get(b))


def do_redeem_coupon(staff: Staff | None, coupon: Coupon, order: Order, *, via: str = "manual",
                     now: dt.datetime | None = None) -> bool:
    """Record ORDER as COUPON's redemption. True when recorded now, False when it already was
    (idempotent: the listener may see an order again). STAFF None: the order listener."""
    if staff is not None:
        account_services.require_role(staff, MANAGE_ROLES)
        if staff.shop_id != coupon.shop_id:
            raise Http404("coupon not found")
    check_redeemable(coupon, order)
    if coupon.order_id == order.pk:
        return False
    with transaction.atomic(savepoint=False):
        done = Coupon.objects.filter(pk=coupon.pk, order__isnull=True).update(
            order=order, redeemed_at=now or timezone.now(), redeemed_via=via[:10], redeemed_by=staff)
    coupon.refresh_from_db()
    if not done and coupon.order_id != order.pk:  # another order took it between our read and write
        raise ValidationError(_("这张券已被其他订单使用"))
    return bool(done)


def do_redeem_code(staff: Staff | None, shop: Shop, code: str, order: Order, *, via: str = "manual") -> Coupon:
    """By code (a form, the API): the coupon of SHOP with CODE, recorded as used by ORDER."""
    coupon = Coupon.objects.select_related("order").filter(code=normalise_code(code), shop=shop).first()
    if coupon is None:
        raise ValidationError(_("没有这个券码"))
    do_redeem_coupon(staff, coupon, order, via=via)
    return coupon


def redeem_from_orders(order_ids: list[int], *, via: str) -> int:
    """The order listener's work: every order among ORDER_IDS carrying a coupon code is
    recorded as its redemption. Bad codes are logged and skipped (a listener that raised would
    stop on them for ever); returns how many were recorded now."""
    recorded = 0
    orders = Order.objects.filter(pk__in=order_ids).exclude(coupon_code="").only(
        "pk", "shop_id", "buyer_id", "created_at", "coupon_code")
    for order in orders:
        coupon = Coupon.objects.select_related("order").filter(
            code=normalise_code(order.coupon_code), shop_id=order.shop_id).first()
        if coupon is None:
            log.info("order %s names unknown coupon code", order.pk)
            continue
        try:
            with transaction.atomic():
                recorded += do_redeem_coupon(None, coupon, order, via=via)
        except (ValidationError, Http404) as exc:
            log.info("order %s: coupon %s not recorded: %s", order.pk, coupon.pk, exc)
    return recorded


def on_orders(event) -> None:
    """Durable listener of OrderCreated/OrderUpdated (name "crm.coupon_redemptions")."""
    if isinstance(getattr(event, "fields", None), list) and "coupon_code" not in event.fields:
        return  # an update that did not touch the coupon column
    redeem_from_orders(list(event.order_ids), via=str(event.source)[:10])


# --- what the shop sees ----------------------------------------------------------------------

@dataclass
class BatchStats:
    batch: CouponBatch
    issued: int
    redeemed: int
    expired: int
    open: int
    order_total: Decimal


def batch_stats(staff: Staff, *, now: dt.datetime | None = None) -> list[BatchStats]:
    """Per batch of STAFF's shop: issued / redeemed / expired (not redeemed, past expiry) / still
    open, and the paid total of the orders they led to."""
    account_services.require_role(staff, MANAGE_ROLES)
    now = now or timezone.now()
    rows = (CouponBatch.objects.filter(shop_id=staff.shop_id)
            .annotate(n_issued=Count("coupons"),
                      n_redeemed=Count("coupons", filter=Q(coupons__order__isnull=False)),
                      n_expired=Count("coupons", filter=Q(coupons__order__isnull=True,
                                                          coupons__expires_at__lte=now)),
                      paid=Sum("coupons__order__paid_amount")))
    return [BatchStats(batch=b, issued=b.n_issued, redeemed=b.n_redeemed, expired=b.n_expired,
                       open=b.n_issued - b.n_redeemed - b.n_expired,
                       order_total=Decimal(b.paid or 0).quantize(Decimal("0.01")))
            for b in rows]


def batch_coupons(staff: Staff, batch: CouponBatch, *, limit: int = 200) -> list[Coupon]:
    account_services.require_role(staff, MANAGE_ROLES)
    return list(Coupon.objects.filter(batch=batch, shop_id=staff.shop_id)
                .select_related("customer", "order", "issued_by").order_by("-issued_at", "-id")[:limit])


def coupon_state(coupon: Coupon, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    if coupon.order_id:
        return "redeemed"
    if coupon.expires_at and coupon.expires_at <= now:
        return "expired"
    return "open"


def coupon_json(coupon: Coupon, now: dt.datetime | None = None) -> dict:
    return {"id": coupon.pk, "code": coupon.code, "batch_id": coupon.batch_id, "customer_id": coupon.customer_id,
            "reason": coupon.reason, "rule": coupon.rule, "issued_by_id": coupon.issued_by_id,
            "issued_at": coupon.issued_at.isoformat(),
            "expires_at": coupon.expires_at.isoformat() if coupon.expires_at else None,
            "state": coupon_state(coupon, now), "order_id": coupon.order_id,
            "redeemed_at": coupon.redeemed_at.isoformat() if coupon.redeemed_at else None,
            "redeemed_via": coupon.redeemed_via}


def batch_json(batch: CouponBatch) -> dict:
    return {"id": batch.pk, "name": batch.name, "kind": batch.kind, "value": str(batch.value),
            "threshold": str(batch.threshold),
            "valid_from": batch.valid_from.isoformat() if batch.valid_from else None,
            "valid_until": batch.valid_until.isoformat() if batch.valid_until else None,
            "valid_days": batch.valid_days, "limit": batch.limit, "issued_count": batch.issued_count,
            "active": batch.active}
