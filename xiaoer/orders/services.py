"""Orders and the pre-sale / in-sale workflow (issue 4; docs/decisions/040-workflow-state-and-claims.md).

``check_*`` validates, ``do_*`` writes (and queues notices / events after commit), ``access_*``
fetches for a caller's shop or raises Http404, ``run_*`` are the periodic sweeps.

Exactly-once notices: every notice to a shopper is a ``notify.Notice`` row with a key derived
from the order and the step ("remind-<order id>", "confirm-<id>", "ship-<id>"). The key is
inserted in the same transaction that moves the order's workflow state on; delivery claims the
row before sending and the chat channel deduplicates by the same key as client id.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, Seat, Shop, Staff
from xiaoer.chat import services as chat_services
from xiaoer.chat.models import Conversation, Message, SenderKind
from xiaoer.conf import setting
from xiaoer.customers.models import Customer
from xiaoer.events import Event, emit
from xiaoer.notify import services as notify_services
from xiaoer.notify.models import Channel
from xiaoer.orders.events import (
    EVENT_BATCH,
    OrderChanged,
    OrderClosed,
    OrderCreated,
    OrderPaid,
    OrderShipped,
    OrderUpdated,
    PaymentReminderSent,
)
from xiaoer.orders.models import (
    TASK_ROLES,
    ConfirmState,
    Order,
    OrderChange,
    OrderItem,
    OrderSettings,
    OrderStatus,
    RemindState,
    Task,
    TaskKind,
    TaskStatus,
    UnpaidCause,
)

log = logging.getLogger(__name__)

CHAT_ROLES = account_services.CHAT_ROLES
SHIPPING_ROLES = CHAT_ROLES | {Role.WAREHOUSE}
# Old orders never get a workflow notice: importing last year's report must not text anyone.
REMIND_MAX_AGE = dt.timedelta(hours=24)
CONFIRM_MAX_AGE = dt.timedelta(hours=24)
NOTICE_MAX_AGE = dt.timedelta(days=7)
PRE_SHIP = {OrderStatus.PAID, OrderStatus.CONFIRMED, OrderStatus.AWAITING_STOCK_CHECK, OrderStatus.READY_TO_SHIP}
STEP_TIMES = {
    OrderStatus.PAID: "paid_at", OrderStatus.CONFIRMED: "confirmed_at", OrderStatus.SHIPPED: "shipped_at",
    OrderStatus.DELIVERED: "delivered_at", OrderStatus.COMPLETED: "completed_at",
    OrderStatus.CLOSED: "closed_at", OrderStatus.REFUNDING: "refund_at",
}
CHANGEABLE_FIELDS = {"receiver_name": 100, "receiver_phone": 30, "receiver_address": 300, "buyer_message": 500}
FIELD_LABELS = {"receiver_name": "收货人", "receiver_phone": "电话", "receiver_address": "地址",
                "buyer_message": "留言", "status": "状态", "carrier": "快递", "tracking_no": "运单号"}


# --- settings ----------------------------------------------------------------------------------

def attribution_hours() -> int:
    return int(setting("ORDER_ATTRIBUTION_HOURS", 24))


def shop_settings(shop: Shop) -> OrderSettings:
    try:
        return shop.order_settings
    except OrderSettings.DoesNotExist:
        return OrderSettings(shop=shop)


def do_update_settings(staff: Staff, **values) -> OrderSettings:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    row, _ = OrderSettings.objects.get_or_create(shop_id=staff.shop_id)
    for key in ("remind_after_minutes", "confirm_timeout_minutes", "quiet_start", "quiet_end", "quiet_enabled"):
        if key in values and values[key] is not None:
            setattr(row, key, values[key])
    if not 1 <= row.remind_after_minutes <= 7 * 24 * 60 or not 1 <= row.confirm_timeout_minutes <= 7 * 24 * 60:
        raise ValidationError("时间设置应在 1 分钟到 7 天之间")
    row.save()
    return row


def in_quiet_hours(shop: Shop, now: dt.datetime, cfg: OrderSettings | None = None) -> bool:
    cfg = cfg or shop_settings(shop)
    if not cfg.quiet_enabled or cfg.quiet_start == cfg.quiet_end:
        return False
    local = now.astimezone(ZoneInfo(shop.timezone)).time()
    if cfg.quiet_start < cfg.quiet_end:
        return cfg.quiet_start <= local < cfg.quiet_end
    return local >= cfg.quiet_start or local < cfg.quiet_end


# --- access ------------------------------------------------------------------------------------

def access_order(staff: Staff, order_id: int) -> Order:
    try:
        return Order.objects.select_related("shop", "buyer").get(pk=order_id, shop_id=staff.shop_id)
    except (Order.DoesNotExist, ValueError, TypeError):
        raise Http404("order not found") from None


def access_conversation(staff: Staff | None, conversation_id: int) -> Conversation:
    """A conversation of the caller's shop (the chat app's rule): warehouse and after-sales
    colleagues get PermissionDenied — they see tasks, never the chat."""
    return chat_services.access_conversation(staff, conversation_id)


def access_task(staff: Staff, task_id: int) -> Task:
    try:
        return Task.objects.select_related("order", "conversation").get(pk=task_id, shop_id=staff.shop_id)
    except (Task.DoesNotExist, ValueError, TypeError):
        raise Http404("task not found") from None


def customers_by_order_no(shop_id: int, query: str, limit: int = 30) -> dict[int, str]:
    """For the workbench search: buyers of the shop's orders whose number contains QUERY."""
    if len(query) < 4:
        return {}
    rows = Order.objects.filter(shop_id=shop_id, order_no__icontains=query, buyer_id__isnull=False).order_by(
        "-created_at").values_list("buyer_id", "order_no")[:limit]
    found: dict[int, str] = {}
    for buyer_id, order_no in rows:
        found.setdefault(buyer_id, gettext("订单 %s") % order_no)
    return found


def orders_of_customer(customer_id: int | None, *, limit: int = 20) -> list[Order]:
    if customer_id is None:
        return []
    changes = OrderChange.objects.select_related("staff", "seat").order_by("-at", "-id")
    return list(Order.objects.filter(buyer_id=customer_id).order_by("-created_at", "-id")
                .prefetch_related("items", Prefetch("changes", queryset=changes))[:limit])


def _seat_for(staff: Staff, order: Order | None = None, conversation: Conversation | None = None) -> Seat | None:
    """The seat the person acts through (accounts.acting_seat), for the order's conversation."""
    if conversation is None and order is not None and order.buyer_id:
        conversation = Conversation.objects.filter(customer_id=order.buyer_id).select_related("seat").last()
    return account_services.acting_seat(staff, conversation.seat if conversation is not None else None)


def _log(order: Order, kind: str, *, staff: Staff | None = None, seat: Seat | None = None, reason: str = "",
         changes: dict | None = None, at: dt.datetime | None = None) -> OrderChange:
    change = OrderChange.objects.create(shop_id=order.shop_id, order=order, kind=kind, reason=reason[:300],
                                        staff=staff, seat=seat, changes=changes or {}, at=at or timezone.now())
    emit(OrderChanged(shop_id=order.shop_id, order_id=order.pk, change_id=change.pk, kind=kind,
                      staff_id=staff.pk if staff else None, seat_id=seat.pk if seat else None,
                      fields=sorted(change.changes)))
    return change


def _emit_batches(event_type: type[Event], shop_id: int, order_ids: list[int], **fields) -> None:
    """One event per EVENT_BATCH orders (xiaoer.orders.events); nothing for no orders."""
    for start in range(0, len(order_ids), EVENT_BATCH):
        emit(event_type(shop_id=shop_id, order_ids=order_ids[start:start + EVENT_BATCH], **fields))


def _publish(shop_id: int, event: str, data: dict, **targets) -> None:
    """Live update after commit, so nobody hears of a write that rolled back."""
    def send() -> None:
        try:
            from xiaoer.chat import hub

            hub.publish_event(shop_id, event, data, **targets)
        except Exception:  # the hub is best effort; the database is the record
            log.exception("publish %s failed", event)

    transaction.on_commit(send)


# --- getting orders in -------------------------------------------------------------------------

def _infer_status(data: dict) -> str:
    """Status for a new order whose source gave none (anonymised reports have no status)."""
    paid, refunded = data.get("paid_amount") or Decimal(0), data.get("refunded_amount") or Decimal(0)
    if data.get("carrier") and data.get("tracking_no"):
        return OrderStatus.SHIPPED
    if not data.get("paid_at"):
        return OrderStatus.UNPAID
    if refunded > 0 and refunded >= paid:
        return OrderStatus.CLOSED
    if refunded > 0:
        return OrderStatus.REFUNDING
    return OrderStatus.PAID


def _customers(shop: Shop, buyer_ids: set[str]) -> dict[str, int]:
    buyer_ids = {b for b in buyer_ids if b}
    if not buyer_ids:
        return {}
    # A merged buyer id stands for the customer it was merged into (docs/customers-import.md).
    surviving_id = Coalesce("merged_into_id", "id")
    found = dict(Customer.objects.filter(shop=shop, buyer_id__in=buyer_ids).values_list("buyer_id", surviving_id))
    missing = buyer_ids - found.keys()
    if missing:
        Customer.objects.bulk_create([Customer(shop=shop, buyer_id=b) for b in missing], ignore_conflicts=True)
        found.update(Customer.objects.filter(shop=shop, buyer_id__in=missing)
                     .values_list("buyer_id", surviving_id))
    return found


def attribute_seats(orders: list[Order]) -> None:
    """Set attributed_seat: the seat whose agent last wrote to this buyer in the
    ORDER_ATTRIBUTION_HOURS before the order was placed (one query per batch)."""
    window = dt.timedelta(hours=attribution_hours())
    wanted = [o for o in orders if o.buyer_id and o.created_at and not o.attributed_seat_id]
    if not wanted:
        return
    start = min(o.created_at for o in wanted) - window
    end = max(o.created_at for o in wanted)
    rows = (Message.objects.filter(conversation__customer_id__in={o.buyer_id for o in wanted},
                                   sender_kind=SenderKind.AGENT, seat__isnull=False, internal=False,
                                   created_at__gte=start, created_at__lte=end)
            .values_list("conversation__customer_id", "seat_id", "created_at").order_by("created_at"))
    by_customer: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    for customer_id, seat_id, at in rows:
        by_customer[customer_id].append((at, seat_id))
    for order in wanted:
        best = None
        for at, seat_id in by_customer.get(order.buyer_id, ()):
            if order.created_at - window <= at <= order.created_at:
                best = seat_id
        order.attributed_seat_id = best


def _step_times(order: Order, old_status: str | None, now: dt.datetime) -> list[str]:
    field = STEP_TIMES.get(order.status)
    if field and order.status != old_status and getattr(order, field) is None:
        setattr(order, field, now)
        return [field]
    return []


class UpsertResult:
    def __init__(self) -> None:
        self.imported = 0
        self.updated = 0
        self.skipped = 0
        self.orders: list[Order] = []


def upsert_orders(shop: Shop, rows: list[dict], *, source: str, now: dt.datetime | None = None,
                  reason: str = "") -> UpsertResult:
    """Create or update orders from clean ROWS (parsing.clean_order) in one transaction.

    Keyed by (shop, order number): the same order again updates it, never duplicates it; a row
    that changes nothing is skipped. Only keys present in a row are written. Changes to existing
    orders go to the change log; orders that got carrier + tracking get their shipping notice.
    """
    now = now or timezone.now()
    result = UpsertResult()
    latest: dict[str, dict] = {}
    for row in rows:
        if row["order_no"] in latest:
            result.skipped += 1  # the same order twice in one batch: the later row wins
        latest[row["order_no"]] = row
    with transaction.atomic(savepoint=False):  # a batch is all or nothing, with or without an edge
        existing = {o.order_no: o for o in Order.objects.filter(shop=shop, order_no__in=list(latest))}
        customers = _customers(shop, {r.get("buyer_id") or "" for r in latest.values()})
        new_orders, new_items, changed, changes = [], [], [], []
        fields_touched: set[str] = set()
        became: dict[str, list[Order]] = {"paid": [], "shipped": [], "closed": []}
        for order_no, row in latest.items():
            buyer_id = customers.get(row.get("buyer_id") or "")
            order = existing.get(order_no)
            if order is None:
                order = _new_order(shop, row, buyer_id, source, now)
                new_orders.append(order)
                new_items.append((order, row.get("items") or []))
                continue
            diff = _apply(order, row, buyer_id, now)
            if not diff:
                result.skipped += 1
                continue
            fields_touched.update(diff)
            changed.append(order)
            _note_milestones(became, order, diff)
            changes.append(OrderChange(shop=shop, order=order, kind="sync", reason=reason[:300],
                                       changes={k: v for k, v in diff.items() if k in FIELD_LABELS}, at=now))
        attribute_seats(new_orders)
        Order.objects.bulk_create(new_orders, batch_size=500)
        OrderItem.objects.bulk_create(
            [OrderItem(order=o, **item) for o, items in new_items for item in items], batch_size=1000)
        if changed:
            Order.objects.bulk_update(changed, sorted(fields_touched | {"updated_at"}), batch_size=500)
            OrderChange.objects.bulk_create(changes, batch_size=500)
        result.imported, result.updated = len(new_orders), len(changed)
        result.orders = new_orders + changed
        for order in new_orders:
            _note_milestones(became, order, None)
        _emit_upsert_events(shop, source, new_orders, changed, fields_touched, became)
        _queue_shipping_notices(shop, [o for o in result.orders if o.carrier and o.tracking_no
                                       and not o.shipping_notified_at], now)
    return result


def _note_milestones(became: dict[str, list[Order]], order: Order, diff: dict | None) -> None:
    """Sort ORDER into the milestones it reached: a new order (DIFF None) by its facts, a
    changed one by what DIFF moved (paid_at/shipped_at set for the first time, status closed)."""
    if diff is None:
        reached = {"paid": order.paid_at is not None, "shipped": order.shipped_at is not None,
                   "closed": order.status == OrderStatus.CLOSED}
    else:
        reached = {"paid": "paid_at" in diff and diff["paid_at"][0] is None,
                   "shipped": "shipped_at" in diff and diff["shipped_at"][0] is None,
                   "closed": "status" in diff and diff["status"][1] == OrderStatus.CLOSED}
    for milestone, yes in reached.items():
        if yes:
            became[milestone].append(order)


def _emit_upsert_events(shop: Shop, source: str, new_orders: list[Order], changed: list[Order],
                        fields: set[str], became: dict[str, list[Order]]) -> None:
    _emit_batches(OrderCreated, shop.pk, [o.pk for o in new_orders], source=source)
    _emit_batches(OrderUpdated, shop.pk, [o.pk for o in changed], source=source, fields=sorted(fields))
    _emit_batches(OrderPaid, shop.pk, [o.pk for o in became["paid"]])
    _emit_batches(OrderShipped, shop.pk, [o.pk for o in became["shipped"]])
    _emit_batches(OrderClosed, shop.pk, [o.pk for o in became["closed"]])


def _new_order(shop: Shop, row: dict, buyer_id: int | None, source: str, now: dt.datetime) -> Order:
    values = {k: v for k, v in row.items() if k not in {"items", "buyer_id"} and v is not None}
    values.setdefault("created_at", now)
    values.setdefault("status", _infer_status(row))
    for key in ("total_amount", "paid_amount", "refunded_amount"):
        values.setdefault(key, Decimal(0))
    order = Order(shop=shop, buyer_id=buyer_id, source=source, updated_at=now, **values)
    # A new order's missing step time is the latest time we know of, not the import's clock:
    # loading last year's completed orders must not make them "completed today".
    _step_times(order, None, order.shipped_at or order.paid_at or order.created_at)
    return order


def _apply(order: Order, row: dict, buyer_id: int | None, now: dt.datetime) -> dict:
    """Write ROW's values into ORDER; return {field: [old, new]} of what changed."""
    diff: dict[str, list] = {}
    old_status = order.status
    for key, value in row.items():
        if key in {"items", "order_no", "buyer_id"}:
            continue
        if key == "status" and value is None:
            continue
        if getattr(order, key) != value:
            diff[key] = [_plain(getattr(order, key)), _plain(value)]
            setattr(order, key, value)
    if buyer_id and order.buyer_id != buyer_id:
        diff["buyer_id"] = [order.buyer_id, buyer_id]
        order.buyer_id = buyer_id
    if "status" not in row or row.get("status") is None:
        # No status from the source: follow what the facts say.
        if order.status == OrderStatus.UNPAID and order.paid_at:
            order.status = OrderStatus.PAID
        if order.status in PRE_SHIP and order.carrier and order.tracking_no:
            order.status = OrderStatus.SHIPPED
        if order.status != old_status:
            diff["status"] = [old_status, order.status]
    for field in _step_times(order, old_status, now):
        diff[field] = [None, _plain(getattr(order, field))]
    return diff


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def do_upsert_order(staff: Staff | None, shop: Shop, row: dict, *, source: str, reason: str = "",
                    ) -> tuple[Order, str]:
    """One order (webhook, API). STAFF: a supervisor of SHOP, or None for the system (a webhook
    whose signature was checked). Returns the order and "imported" / "updated" / "skipped"."""
    if staff is not None:
        account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
        if staff.shop_id != shop.pk:
            raise Http404("shop not found")
    result = upsert_orders(shop, [row], source=source, reason=reason)
    outcome = "imported" if result.imported else "updated" if result.updated else "skipped"
    return Order.objects.get(shop=shop, order_no=row["order_no"]), outcome


# --- reaching the shopper ----------------------------------------------------------------------

def _contacts(shop: Shop, orders: list[Order]) -> dict[int, tuple[str, str, int | None]]:
    """Per order: (channel, recipient, conversation id) — the chat when the shopper has a
    conversation with the shop, else an SMS to the receiver's (or the customer's) phone."""
    buyer_ids = {o.buyer_id for o in orders if o.buyer_id}
    conversations = dict(Conversation.objects.filter(shop=shop, customer_id__in=buyer_ids)
                         .order_by("created_at", "id").values_list("customer_id", "id"))
    phones = dict(Customer.objects.filter(pk__in=buyer_ids).exclude(phone="").values_list("id", "phone"))
    found = {}
    for order in orders:
        conversation_id = conversations.get(order.buyer_id)
        if conversation_id:
            found[order.pk] = (Channel.CHAT, str(conversation_id), conversation_id)
        elif order.receiver_phone or phones.get(order.buyer_id):
            found[order.pk] = (Channel.SMS, order.receiver_phone or phones[order.buyer_id], None)
    return found


def _context(order: Order, shop: Shop, **extra) -> dict:
    return {"shop": shop.name, "order_no": order.order_no, "total": order.total_amount,
            "receiver_name": order.receiver_name, "receiver_phone": order.receiver_phone,
            "receiver_address": order.receiver_address, "carrier": order.carrier,
            "tracking_no": order.tracking_no, **extra}


def _notices(shop: Shop, orders: list[Order], template: str, key: str, now: dt.datetime,
             **extra) -> tuple[list, list[Order], list[Order]]:
    """Build one notice per reachable order. Returns (notices, reached, unreachable)."""
    contacts = _contacts(shop, orders)
    templates = notify_services.shop_templates(shop)
    notices, reached, unreachable = [], [], []
    for order in orders:
        contact = contacts.get(order.pk)
        if contact is None:
            unreachable.append(order)
            continue
        channel, recipient, conversation_id = contact
        body = notify_services.render(shop, template, _context(order, shop, **extra), templates=templates)
        notices.append(notify_services.build_notice(
            shop, key=key.format(id=order.pk), channel=channel, template=template, body=body,
            recipient=recipient, conversation_id=conversation_id, now=now))
        reached.append(order)
    return notices, reached, unreachable


def _notify_one(order: Order, template: str, key: str, **extra) -> bool:
    notices, reached, _ = _notices(order.shop, [order], template, key, timezone.now(), **extra)
    notify_services.do_queue_notices(notices)
    return bool(reached)


def _queue_shipping_notices(shop: Shop, orders: list[Order], now: dt.datetime) -> None:
    recent = [o for o in orders if o.pk and o.created_at and o.created_at >= now - NOTICE_MAX_AGE]
    if not recent:
        return
    notices, reached, _ = _notices(shop, recent, "shipping_notice", "ship-{id}", now)
    notify_services.do_queue_notices(notices)
    Order.objects.filter(pk__in=[o.pk for o in recent], shipping_notified_at__isnull=True).update(
        shipping_notified_at=now)


# --- payment reminders (催付) -------------------------------------------------------------------

def _mark_reminded(shop_id: int, reached: list[Order], unreachable: list[Order], now: dt.datetime,
                   staff: Staff | None = None) -> int:
    """Move the orders on and emit PaymentReminderSent for them; returns how many this transaction
    moved. The rows are locked first: a concurrent sweep that got there first leaves them moved,
    and they are not ours (on SQLite writers are serialised anyway)."""
    claimed = list(Order.objects.select_for_update().filter(
        pk__in=[o.pk for o in reached], remind_state=RemindState.NONE).order_by("pk").values_list("pk", flat=True))
    Order.objects.filter(pk__in=claimed).update(remind_state=RemindState.SENT, reminded_at=now)
    Order.objects.filter(pk__in=[o.pk for o in unreachable], remind_state=RemindState.NONE).update(
        remind_state=RemindState.NO_CHANNEL)
    _emit_batches(PaymentReminderSent, shop_id, claimed, staff_id=staff.pk if staff else None)
    return len(claimed)


def _shops_with(qs) -> list[Shop]:
    return list(Shop.objects.filter(pk__in=qs.values("shop_id").distinct()).select_related("order_settings"))


def run_reminder_sweep(*, now: dt.datetime | None = None, batch: int = 1000, deliver: bool = True) -> int:
    """Queue (and deliver) one payment reminder for every order unpaid for longer than its
    shop's delay, outside the shop's quiet hours. Safe to run anywhere, any number of times,
    at once: the notice key "remind-<id>" is the claim. Returns the number of orders this run
    claimed (another worker's claims are not counted)."""
    now = now or timezone.now()
    due = Order.objects.filter(status=OrderStatus.UNPAID, remind_state=RemindState.NONE,
                               created_at__gte=now - REMIND_MAX_AGE)
    total = 0
    for shop in _shops_with(due):
        cfg = shop_settings(shop)
        if in_quiet_hours(shop, now, cfg):
            continue  # deferred: the first sweep after quiet hours end picks them up
        candidates = due.filter(shop=shop, created_at__lte=now - dt.timedelta(minutes=cfg.remind_after_minutes))
        last_id = 0
        while True:
            orders = list(candidates.filter(pk__gt=last_id).order_by("pk")[:batch])
            if not orders:
                break
            last_id = orders[-1].pk
            with transaction.atomic():
                notices, reached, unreachable = _notices(shop, orders, "payment_reminder", "remind-{id}", now)
                keys = notify_services.do_queue_notices(notices, deliver=False)
                total += _mark_reminded(shop.pk, reached, unreachable, now)
            if deliver:
                notify_services.deliver_due(now=now, keys=keys)
    return total


@transaction.atomic(savepoint=False)
def do_remind_now(staff: Staff, order: Order) -> bool:
    """The agent sends the payment reminder without waiting for the sweep. Same claim as the
    sweep (notice key "remind-<id>"), so an order still gets one reminder at most. Quiet hours
    don't apply: a person decided. Returns False when it had been reminded already."""
    account_services.require_role(staff, CHAT_ROLES)
    chat_services.require_may_reply_to_customer(staff, order.buyer_id)  # the chat's one rule
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    if order.status != OrderStatus.UNPAID:
        raise ValidationError("订单已付款或已关闭")
    if order.remind_state == RemindState.SENT:
        return False
    now = timezone.now()
    notices, reached, unreachable = _notices(order.shop, [order], "payment_reminder", "remind-{id}", now)
    if not reached:
        raise ValidationError("无法联系顾客：没有会话，也没有手机号")
    notify_services.do_queue_notices(notices)
    claimed = _mark_reminded(order.shop_id, reached, unreachable, now, staff) == 1
    if claimed:
        _log(order, "remind", staff=staff, seat=_seat_for(staff, order), reason="客服手动催付", at=now)
    return claimed


def recovery_stats(shop: Shop, *, since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict:
    """Reminded orders, and how many of them were paid after the reminder."""
    reminded = Order.objects.filter(shop=shop, remind_state=RemindState.SENT)
    if since:
        reminded = reminded.filter(reminded_at__gte=since)
    if until:
        reminded = reminded.filter(reminded_at__lt=until)
    total = reminded.count()
    recovered = reminded.filter(paid_at__isnull=False, paid_at__gte=F("reminded_at")).count()
    return {"reminded": total, "recovered": recovered, "rate": round(recovered / total, 4) if total else None}


def check_cause(cause: str) -> str:
    if cause not in UnpaidCause.values:
        raise ValidationError(f"未知原因: {str(cause)[:30]}")
    return cause


@transaction.atomic(savepoint=False)
def do_record_unpaid_cause(staff: Staff, order: Order, cause: str, note: str = "") -> Order:
    account_services.require_role(staff, CHAT_ROLES)
    check_cause(cause)
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    old = order.unpaid_cause
    order.unpaid_cause = cause
    order.save(update_fields=["unpaid_cause", "updated_at"])
    _log(order, "unpaid_cause", staff=staff, seat=_seat_for(staff, order), reason=note[:300],
         changes={"unpaid_cause": [old, cause]})
    return order


@transaction.atomic(savepoint=False)
def do_guide_payment(staff: Staff, order: Order) -> bool:
    """Send the payment guide to the shopper (each press is its own notice)."""
    account_services.require_role(staff, CHAT_ROLES)
    chat_services.require_may_reply_to_customer(staff, order.buyer_id)  # the chat's one rule
    if order.status != OrderStatus.UNPAID:
        raise ValidationError("订单已付款或已关闭")
    sent = _notify_one(order, "payment_guide", "guide-{id}-" + uuid.uuid4().hex[:12])
    _log(order, "payment_guide", staff=staff, seat=_seat_for(staff, order),
         reason="" if sent else "无法联系顾客（无会话、无手机号）")
    return sent


@transaction.atomic(savepoint=False)
def do_close_order(staff: Staff, order: Order, reason: str) -> Order:
    account_services.require_role(staff, CHAT_ROLES)
    chat_services.require_may_reply_to_customer(staff, order.buyer_id)  # the chat's one rule
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("关闭订单必须填写原因")
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    if order.status != OrderStatus.UNPAID:
        raise ValidationError("只有待付款的订单可以关闭")
    now = timezone.now()
    order.status, order.close_reason, order.closed_at = OrderStatus.CLOSED, reason[:200], now
    order.save(update_fields=["status", "close_reason", "closed_at", "updated_at"])
    _log(order, "close", staff=staff, seat=_seat_for(staff, order), reason=reason,
         changes={"status": [OrderStatus.UNPAID, OrderStatus.CLOSED]}, at=now)
    emit(OrderClosed(shop_id=order.shop_id, order_ids=[order.pk], staff_id=staff.pk, reason=reason[:200]))
    _notify_one(order, "order_closed", "close-{id}", reason=reason[:200])
    return order


# --- order confirmation (核对订单) ---------------------------------------------------------------

def run_confirmation_sweep(*, now: dt.datetime | None = None, batch: int = 1000, deliver: bool = True) -> dict:
    """Ask newly paid orders' shoppers to check receiver and address; proceed with the address
    on the order when no answer came within the shop's timeout."""
    now = now or timezone.now()
    asked = timed_out = 0
    ask = Order.objects.filter(status=OrderStatus.PAID, confirm_state=ConfirmState.NONE,
                               paid_at__gte=now - CONFIRM_MAX_AGE)
    for shop in _shops_with(ask):
        if in_quiet_hours(shop, now):
            continue
        last_id = 0
        while True:
            orders = list(ask.filter(shop=shop, pk__gt=last_id).order_by("pk")[:batch])
            if not orders:
                break
            last_id = orders[-1].pk
            with transaction.atomic():
                notices, reached, unreachable = _notices(shop, orders, "order_confirm", "confirm-{id}", now)
                keys = notify_services.do_queue_notices(notices, deliver=False)
                asked += Order.objects.filter(pk__in=[o.pk for o in reached],
                                              confirm_state=ConfirmState.NONE).update(
                    confirm_state=ConfirmState.ASKED, confirm_asked_at=now)
                Order.objects.filter(pk__in=[o.pk for o in unreachable], confirm_state=ConfirmState.NONE).update(
                    confirm_state=ConfirmState.NO_CHANNEL)
            if deliver:
                notify_services.deliver_due(now=now, keys=keys)
    waiting = Order.objects.filter(status=OrderStatus.PAID, confirm_state=ConfirmState.ASKED)
    for shop in _shops_with(waiting):
        limit = now - dt.timedelta(minutes=shop_settings(shop).confirm_timeout_minutes)
        for order in waiting.filter(shop=shop, confirm_asked_at__lte=limit)[:batch]:
            with transaction.atomic():
                # The conditional update is the claim: a second worker updates nothing.
                won = Order.objects.filter(pk=order.pk, status=OrderStatus.PAID,
                                           confirm_state=ConfirmState.ASKED).update(
                    status=OrderStatus.CONFIRMED, confirm_state=ConfirmState.TIMEOUT, confirmed_at=now)
                if won:
                    _log(order, "confirm_timeout", reason="顾客未在规定时间内回复，按订单上的地址发货",
                         changes={"status": [OrderStatus.PAID, OrderStatus.CONFIRMED]}, at=now)
                    timed_out += 1
    return {"asked": asked, "timed_out": timed_out}


@transaction.atomic(savepoint=False)
def do_ask_confirmation(staff: Staff, order: Order) -> bool:
    """The agent asks the shopper now to check receiver, phone and address (the same message the
    sweep sends, in the chat or by SMS). The first ask claims the sweep's key ("confirm-<id>"),
    so the shopper is not asked twice by the two; asking again later is the agent's decision."""
    account_services.require_role(staff, CHAT_ROLES)
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    if order.status != OrderStatus.PAID:
        raise ValidationError("只有已付款、未核对的订单需要顾客核对")
    now = timezone.now()
    key = "confirm-{id}" if order.confirm_state == ConfirmState.NONE else f"confirm-{{id}}-{now.timestamp():.0f}"
    notices, reached, _ = _notices(order.shop, [order], "order_confirm", key, now)
    if not reached:
        raise ValidationError("无法联系顾客：没有会话，也没有手机号")
    notify_services.do_queue_notices(notices)
    order.confirm_state, order.confirm_asked_at = ConfirmState.ASKED, now
    order.save(update_fields=["confirm_state", "confirm_asked_at", "updated_at"])
    return True


@transaction.atomic(savepoint=False)
def do_confirm_order(staff: Staff, order: Order) -> Order:
    """The shopper confirmed (in the chat): the agent marks the order confirmed."""
    account_services.require_role(staff, CHAT_ROLES)
    chat_services.require_may_reply_to_customer(staff, order.buyer_id)  # the chat's one rule
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    if order.status != OrderStatus.PAID:
        raise ValidationError("只有已付款、未核对的订单可以核对")
    now = timezone.now()
    order.status, order.confirm_state, order.confirmed_at = OrderStatus.CONFIRMED, ConfirmState.CONFIRMED, now
    order.save(update_fields=["status", "confirm_state", "confirmed_at", "updated_at"])
    _log(order, "confirm", staff=staff, seat=_seat_for(staff, order), reason="顾客已核对收货信息",
         changes={"status": [OrderStatus.PAID, OrderStatus.CONFIRMED]}, at=now)
    return order


# --- order changes (订单变更) --------------------------------------------------------------------

@transaction.atomic(savepoint=False)
def do_change_order(staff: Staff, order: Order, *, reason: str, changes: dict | None = None,
                    notify: bool = True) -> OrderChange:
    """A change note: the reason, the person, the seat, the time and the field changes (may be
    none: a plain note). The shopper is told through the chat or SMS."""
    account_services.require_role(staff, CHAT_ROLES)
    chat_services.require_may_reply_to_customer(staff, order.buyer_id)  # the chat's one rule
    reason = (reason or "").strip()[:300]
    if not reason:
        raise ValidationError("变更必须填写原因")
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    if order.status in {OrderStatus.CLOSED, OrderStatus.COMPLETED}:
        raise ValidationError("已关闭或已完成的订单不能变更")
    diff = {}
    for field, value in (changes or {}).items():
        if field not in CHANGEABLE_FIELDS:
            raise ValidationError(f"不能修改字段: {str(field)[:30]}")
        value = str(value or "").strip()[:CHANGEABLE_FIELDS[field]]
        if value != getattr(order, field):
            diff[field] = [getattr(order, field), value]
            setattr(order, field, value)
    if diff:
        order.save(update_fields=[*diff, "updated_at"])
    change = _log(order, "change", staff=staff, seat=_seat_for(staff, order), reason=reason, changes=diff)
    if notify:
        summary = "；".join(f"{FIELD_LABELS.get(k, k)}改为 {v[1]}" for k, v in diff.items()) or "备注"
        _notify_one(order, "order_change", f"change-{change.pk}-{{id}}", summary=summary, reason=reason)
    return change


@transaction.atomic(savepoint=False)
def do_set_shipping(staff: Staff, order: Order, *, carrier: str, tracking_no: str) -> Order:
    account_services.require_role(staff, SHIPPING_ROLES)
    carrier, tracking_no = (carrier or "").strip()[:50], (tracking_no or "").strip()[:64]
    if not carrier or not tracking_no:
        raise ValidationError("请填写快递公司和运单号")
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    if order.status in {OrderStatus.UNPAID, OrderStatus.CLOSED}:
        raise ValidationError("未付款或已关闭的订单不能发货")
    now = timezone.now()
    diff = {}
    for field, value in (("carrier", carrier), ("tracking_no", tracking_no)):
        if getattr(order, field) != value:
            diff[field] = [getattr(order, field), value]
            setattr(order, field, value)
    first_shipped = order.shipped_at is None
    if order.status in PRE_SHIP:
        diff["status"] = [order.status, OrderStatus.SHIPPED]
        order.status = OrderStatus.SHIPPED
        order.shipped_at = order.shipped_at or now
    if diff:
        order.save()
        _log(order, "shipping", staff=staff, seat=_seat_for(staff, order), changes=diff, at=now)
    if first_shipped and order.shipped_at is not None:
        emit(OrderShipped(shop_id=order.shop_id, order_ids=[order.pk]))
    if not order.shipping_notified_at:
        # The notice goes out once per order, whoever set the tracking number first.
        notices, _, _ = _notices(order.shop, [order], "shipping_notice", "ship-{id}", now)
        notify_services.do_queue_notices(notices)
        Order.objects.filter(pk=order.pk, shipping_notified_at__isnull=True).update(shipping_notified_at=now)
    return order


# --- internal tasks and stock checks -----------------------------------------------------------

def _task_data(task: Task) -> dict:
    return {"id": task.pk, "kind": task.kind, "status": task.status, "assignee_role": task.assignee_role,
            "order_id": task.order_id, "conversation_id": task.conversation_id}


@transaction.atomic(savepoint=False)
def do_raise_task(staff: Staff, *, kind: str, question: str, conversation: Conversation | None = None,
                  order: Order | None = None) -> Task:
    account_services.require_role(staff, CHAT_ROLES)
    if kind not in TaskKind.values:
        raise ValidationError(f"未知任务类型: {str(kind)[:30]}")
    question = (question or "").strip()[:1000]
    if not question:
        raise ValidationError("请写明要同事处理的问题")
    for obj in (conversation, order):
        if obj is not None and obj.shop_id != staff.shop_id:
            raise Http404("not found")
    if conversation is None and order is not None and order.buyer_id:
        conversation = Conversation.objects.filter(customer_id=order.buyer_id).order_by("-id").first()
    task = Task.objects.create(shop_id=staff.shop_id, kind=kind, assignee_role=TASK_ROLES[kind], order=order,
                               conversation=conversation, question=question, raised_by=staff,
                               raised_seat=_seat_for(staff, order, conversation), created_at=timezone.now())
    _publish(staff.shop_id, "task.created", _task_data(task),
             conversation_id=conversation.pk if conversation else None)
    return task


@transaction.atomic(savepoint=False)
def do_raise_stock_check(staff: Staff, order: Order, question: str = "") -> Task:
    account_services.require_role(staff, CHAT_ROLES)
    order = Order.objects.select_for_update().get(pk=order.pk, shop_id=staff.shop_id)
    if order.status not in {OrderStatus.PAID, OrderStatus.CONFIRMED}:
        raise ValidationError("只有已付款、未发货的订单需要确认库存")
    items = "、".join(f"{i.title}×{i.quantity}" for i in order.items.all()) or "订单商品"
    task = do_raise_task(staff, kind=TaskKind.STOCK_CHECK, order=order,
                         question=(question or "").strip() or f"请确认库存：{items}")
    old = order.status
    order.status = OrderStatus.AWAITING_STOCK_CHECK
    order.save(update_fields=["status", "updated_at"])
    _log(order, "stock_check", staff=staff, seat=task.raised_seat, reason=task.question,
         changes={"status": [old, order.status]})
    return task


def unstaffed_roles(shop_id: int) -> set[str]:
    """Task roles nobody active in the shop holds: their tasks fall to a supervisor."""
    held = set(Staff.objects.filter(shop_id=shop_id, is_active=True).values_list("role", flat=True))
    return set(TASK_ROLES.values()) - held


def check_can_answer(staff: Staff | None, task: Task) -> None:
    """The role a task is addressed to answers it (an agent never answers a stock check). When
    nobody in the shop holds that role, a supervisor takes it instead of it waiting forever."""
    if staff is None or staff.shop_id != task.shop_id:
        raise PermissionDenied("not found")
    if staff.role == task.assignee_role:
        return
    if staff.role in account_services.SUPERVISOR_ROLES and task.assignee_role in unstaffed_roles(task.shop_id):
        return
    raise PermissionDenied(f"这个任务由{dict(Role.choices)[task.assignee_role]}处理")


@transaction.atomic(savepoint=False)
def do_answer_task(staff: Staff, task: Task, *, answer: str = "", in_stock: bool | None = None,
                   short_by: int | None = None) -> Task:
    check_can_answer(staff, task)
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        raise ValidationError("这个任务已经答复过了")
    answer = (answer or "").strip()[:1000]
    if task.kind == TaskKind.STOCK_CHECK:
        if in_stock is None:
            raise ValidationError("请选择有货或缺货")
        if not in_stock and (short_by is None or short_by < 1):
            raise ValidationError("缺货时请填写缺几件")
        task.in_stock, task.short_by = in_stock, None if in_stock else short_by
        answer = answer or ("有货" if in_stock else f"缺货 {short_by} 件")
    elif not answer:
        raise ValidationError("请填写答复")
    task.answer, task.answered_by, task.answered_at = answer, staff, timezone.now()
    task.status = TaskStatus.ANSWERED
    task.save()
    if task.kind == TaskKind.STOCK_CHECK and task.order_id:
        _stock_answered(staff, task)
    _publish(task.shop_id, "task.answered", {**_task_data(task), "answer": task.answer},
             conversation_id=task.conversation_id)
    return task


def _stock_answered(staff: Staff, task: Task) -> None:
    order = Order.objects.select_for_update().get(pk=task.order_id)
    if order.status != OrderStatus.AWAITING_STOCK_CHECK:
        return
    # In stock: ready to ship. Short: back to the agent, who changes the order with the shopper.
    new = OrderStatus.READY_TO_SHIP if task.in_stock else OrderStatus.CONFIRMED
    _log(order, "stock_in" if task.in_stock else "stock_short", staff=staff, reason=task.answer,
         changes={"status": [order.status, new]})
    order.status = new
    order.save(update_fields=["status", "updated_at"])


def task_queue(staff: Staff, *, include_answered: bool = False) -> list[Task]:
    """The caller's queue: tasks addressed to their role, oldest first (supervisors: all)."""
    qs = Task.objects.filter(shop_id=staff.shop_id).select_related("order", "raised_by", "raised_seat").prefetch_related(
        "order__items")
    if staff.role in {Role.WAREHOUSE, Role.AFTERSALES}:
        qs = qs.filter(assignee_role=staff.role)
    elif staff.role not in account_services.SUPERVISOR_ROLES:
        raise PermissionDenied("只有库管、售后和主管有任务队列")
    if not include_answered:
        qs = qs.filter(status=TaskStatus.OPEN)
    return list(qs.order_by("created_at", "id")[:200])


def tasks_of_conversation(conversation: Conversation) -> list[Task]:
    orders = Order.objects.filter(buyer_id=conversation.customer_id).values("id")
    return list(Task.objects.filter(Q(conversation=conversation) | Q(order_id__in=orders))
                .select_related("order", "raised_by", "answered_by").order_by("-created_at", "-id")[:50])


# --- cards -------------------------------------------------------------------------------------

def order_card(order: Order) -> dict:
    """The payload of an order card in the chat (kind "card"); documented in docs/orders-import.md."""
    items = [{"title": i.title, "sku": i.sku, "quantity": i.quantity,
              "unit_price": str(i.unit_price) if i.unit_price is not None else None}
             for i in order.items.all()[:10]]
    with translation.override(settings.LANGUAGE_CODE):  # stored in the chat: the shop's language
        status_label = str(OrderStatus(order.status).label)
    return {"type": "order", "order_id": order.pk, "order_no": order.order_no, "status": order.status,
            "status_label": status_label, "total_amount": str(order.total_amount),
            "paid_amount": str(order.paid_amount), "created_at": order.created_at.isoformat(),
            "items": items, "carrier": order.carrier, "tracking_no": order.tracking_no}


def card_for_shopper(customer: Customer, order_no: str) -> dict:
    """A shopper may send a card only for their own order."""
    try:
        order = Order.objects.get(shop_id=customer.shop_id, buyer=customer, order_no=str(order_no)[:64])
    except Order.DoesNotExist:
        raise Http404("order not found") from None
    return order_card(order)


def chat_order_card(shop_id: int, customer_id: int, order_no) -> tuple[str, dict]:
    """The chat's order card (xiaoer.chat.cards): only an order of the conversation's customer."""
    order = Order.objects.filter(shop_id=shop_id, buyer_id=customer_id, order_no=str(order_no)[:64]).first()
    if order is None:
        raise LookupError("order not found")
    return f"订单 {order.order_no}", order_card(order)


def orders_for_shopper(customer: Customer, limit: int = 20) -> list[dict]:
    return [order_card(o) for o in orders_of_customer(customer.pk, limit=limit)]

