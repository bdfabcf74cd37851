"""Returns and exchanges (售后单): the state machine, the postage rule, the refund bound
(docs/aftersales.md "Returns and exchanges"; decisions 185–187).

``do_*`` take the acting staff first (None: the shopper through a signed link, or the system),
check the role, lock the case row and move it along TRANSITIONS only; every step is a CaseStep
with the person, seat and time, and the shopper is told through the chat, else by SMS.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, Shop, Staff
from xiaoer.aftersales.models import (
    CaseKind,
    CaseReason,
    CaseState,
    CaseStep,
    PostagePayer,
    ReturnCase,
    ReturnSettings,
)
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.events import emit
from xiaoer.notify import services as notify_services
from xiaoer.notify.models import Channel
from xiaoer.orders.events import OrderChanged, OrderClosed
from xiaoer.orders.models import Order, OrderChange, OrderStatus

CASE_ROLES = account_services.CHAT_ROLES | {Role.AFTERSALES}
RECEIPT_ROLES = {Role.WAREHOUSE, Role.OWNER}
OVER_LIMIT_ROLES = account_services.SUPERVISOR_ROLES
READ_ROLES = CASE_ROLES | {Role.WAREHOUSE}
MAX_NOTE = 300
LINK_SALT = "xiaoer.aftersales.return"

# Who pays the return postage when the shop has not said otherwise: the shop for what is its
# fault, the buyer for a change of mind (decision 185).
DEFAULT_POSTAGE: dict[str, str] = {
    CaseReason.QUALITY: PostagePayer.SHOP, CaseReason.WRONG_ITEM: PostagePayer.SHOP,
    CaseReason.DAMAGED: PostagePayer.SHOP, CaseReason.MISSING: PostagePayer.SHOP,
    CaseReason.NOT_AS_DESCRIBED: PostagePayer.SHOP, CaseReason.SIZE: PostagePayer.BUYER,
    CaseReason.COLOUR: PostagePayer.BUYER, CaseReason.NO_REASON: PostagePayer.BUYER,
    CaseReason.OTHER: PostagePayer.BUYER,
}
RETURN_KINDS = {CaseKind.RETURN_REFUND, CaseKind.EXCHANGE}
# (action, from state) → to state; the kind must be in the set (None: any kind)
TRANSITIONS: dict[tuple[str, str], tuple[str, set[str] | None]] = {
    ("approve", CaseState.REQUESTED): (CaseState.APPROVED, None),
    ("reject", CaseState.REQUESTED): (CaseState.REJECTED, None),
    ("send_address", CaseState.APPROVED): (CaseState.AWAITING_RETURN, RETURN_KINDS),
    ("receive", CaseState.AWAITING_RETURN): (CaseState.RECEIVED, RETURN_KINDS),
    ("refund", CaseState.APPROVED): (CaseState.REFUNDED, {CaseKind.REFUND_ONLY}),
    ("refund", CaseState.RECEIVED): (CaseState.REFUNDED, {CaseKind.RETURN_REFUND}),
    ("ship_replacement", CaseState.APPROVED): (CaseState.REPLACEMENT_SHIPPED, {CaseKind.REISSUE}),
    ("ship_replacement", CaseState.RECEIVED): (CaseState.REPLACEMENT_SHIPPED, {CaseKind.EXCHANGE}),
    ("close", CaseState.REFUNDED): (CaseState.CLOSED, None),
    ("close", CaseState.REPLACEMENT_SHIPPED): (CaseState.CLOSED, None),
    ("close", CaseState.REJECTED): (CaseState.CLOSED, None),
}
ACTION_LABELS = {"approve": gettext_noop("同意"), "reject": gettext_noop("拒绝"),
                 "send_address": gettext_noop("发送退货地址"), "receive": gettext_noop("确认收货"),
                 "refund": gettext_noop("退款"), "ship_replacement": gettext_noop("发出换货/补发"),
                 "close": gettext_noop("关闭")}
STEP_LABELS = {**ACTION_LABELS, "open": gettext_noop("开单"), "return_tracking": gettext_noop("登记退货运单"),
               "override_postage": gettext_noop("修改运费承担方")}
# Built-in shopper notices, one per state reached (laid into notify's table by apps.ready()).
NOTICE_TEXTS: dict[str, str] = {
    "aftersales_requested": "亲，您订单 {order_no} 的售后申请（{kind}，{reason}）已收到，小二会在 {due} 前处理。",
    "aftersales_approved": "亲，您订单 {order_no} 的售后申请已同意。{postage}",
    "aftersales_rejected": "亲，很抱歉，您订单 {order_no} 的售后申请未能通过：{note}。有疑问随时找小二。",
    "aftersales_awaiting_return": "亲，请把商品寄回：{return_name}，{return_phone}，{return_address}。"
                                  "寄出后把快递公司和运单号告诉小二。{postage}",
    "aftersales_received": "亲，您寄回的商品（订单 {order_no}）已收到，我们会尽快处理。",
    "aftersales_refunded": "亲，订单 {order_no} 已退款 {amount} 元，请留意到账。",
    "aftersales_replacement_shipped": "亲，订单 {order_no} 的换货/补发已寄出：{carrier} {tracking_no}。",
    "aftersales_closed": "亲，订单 {order_no} 的售后已完成，感谢您的耐心。",
}


# --- settings and the postage rule -------------------------------------------------------------

def shop_settings(shop_id: int) -> ReturnSettings:
    cfg, _created = ReturnSettings.objects.get_or_create(shop_id=shop_id)
    return cfg


def postage_table(cfg: ReturnSettings) -> dict[str, str]:
    """The shop's table over the defaults: reason → buyer / shop."""
    table = dict(DEFAULT_POSTAGE)
    table.update({k: v for k, v in (cfg.postage_table or {}).items()
                  if k in CaseReason.values and v in (PostagePayer.BUYER, PostagePayer.SHOP)})
    return table


def decide_postage(cfg: ReturnSettings, kind: str, reason: str, order: Order,
                   now: dt.datetime) -> tuple[str, str, str]:
    """(payer, rule, why) for a new case. Raises ValidationError for a no-reason return past its window."""
    if kind not in RETURN_KINDS:
        return PostagePayer.NONE, "no_return", _("无需寄回商品，没有退货运费")
    if reason == CaseReason.NO_REASON:
        delivered = order.delivered_at or order.shipped_at
        if delivered is not None and now - delivered > dt.timedelta(days=cfg.no_reason_days):
            raise ValidationError(_("已超过签收后 %(days)s 天的无理由退货期限") % {"days": cfg.no_reason_days})
    payer = postage_table(cfg)[reason]
    label = CaseReason(reason).label
    if payer == PostagePayer.BUYER and cfg.shipping_insurance:
        return PostagePayer.INSURANCE, "insurance", _("原因「%(r)s」本由买家承担，店铺开通了运费险") % {"r": label}
    rule = "table_default" if (cfg.postage_table or {}).get(reason) in (None, DEFAULT_POSTAGE[reason]) else "table_shop"
    who = PostagePayer(payer).label
    if rule == "table_shop":
        return payer, rule, _("店铺规则：原因「%(r)s」%(who)s") % {"r": label, "who": who}
    return payer, rule, _("默认规则：原因「%(r)s」%(who)s") % {"r": label, "who": who}


@transaction.atomic(savepoint=False)
def do_update_settings(staff: Staff, **values) -> ReturnSettings:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    cfg = ReturnSettings.objects.select_for_update().get(pk=shop_settings(staff.shop_id).pk)
    for field in ("approve_within_hours", "refund_within_days", "no_reason_days"):
        if field in values and values[field] is not None:
            number = int(values[field])
            if not 1 <= number <= 10000:
                raise ValidationError(_("期限必须在 1 到 10000 之间"))
            setattr(cfg, field, number)
    if values.get("shipping_insurance") is not None:
        cfg.shipping_insurance = bool(values["shipping_insurance"])
    if values.get("agent_refund_limit") is not None:
        cfg.agent_refund_limit = check_amount(values["agent_refund_limit"], allow_zero=True)
    if values.get("postage_table") is not None:
        table = values["postage_table"]
        if not isinstance(table, dict) or any(k not in CaseReason.values or v not in (PostagePayer.BUYER,
                                              PostagePayer.SHOP) for k, v in table.items()):
            raise ValidationError(_("运费规则只能把原因对应到「buyer」或「shop」"))
        cfg.postage_table = dict(table)
    for field, size in (("return_name", 50), ("return_phone", 30), ("return_address", 300)):
        if values.get(field) is not None:
            setattr(cfg, field, str(values[field]).strip()[:size])
    cfg.save()
    return cfg


def check_amount(raw, *, allow_zero: bool = False) -> Decimal:
    try:
        amount = Decimal(str(raw)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationError(_("金额格式不对")) from None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero) or amount > Decimal("9999999999"):
        raise ValidationError(_("金额必须大于 0"))
    return amount


def _text(raw, size: int = MAX_NOTE) -> str:
    return str(raw or "").strip()[:size]


# --- reading -----------------------------------------------------------------------------------

def access_case(staff: Staff, case_id: int) -> ReturnCase:
    account_services.require_role(staff, READ_ROLES)
    case = (ReturnCase.objects.select_related("order", "seat", "customer", "opened_by")
            .filter(pk=case_id, shop_id=staff.shop_id).first())
    if case is None:
        raise Http404("case not found")
    return case


def overdue_q(now: dt.datetime) -> Q:
    return (Q(state=CaseState.REQUESTED, approve_due_at__lt=now)
            | Q(state=CaseState.RECEIVED, refund_due_at__lt=now))


def is_overdue(case: ReturnCase, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    due = due_at(case)
    return due is not None and due < now


def due_at(case: ReturnCase) -> dt.datetime | None:
    """The running timer: approval while requested, refund while received."""
    if case.state == CaseState.REQUESTED:
        return case.approve_due_at
    if case.state == CaseState.RECEIVED:
        return case.refund_due_at
    return None


def cases_of(staff: Staff, *, state: str = "", reason: str = "", seat_id: int | None = None,
             overdue: bool = False, order_id: int | None = None, customer_id: int | None = None,
             limit: int = 200) -> QuerySet[ReturnCase]:
    account_services.require_role(staff, READ_ROLES)
    qs = ReturnCase.objects.filter(shop_id=staff.shop_id).select_related("order", "seat")
    if state:
        qs = qs.filter(state=state)
    if reason:
        qs = qs.filter(reason=reason)
    if seat_id:
        qs = qs.filter(seat_id=seat_id)
    if order_id:
        qs = qs.filter(order_id=order_id)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if overdue:
        qs = qs.filter(overdue_q(timezone.now()))
    return qs.order_by("-opened_at", "-id")[:limit]


# --- reaching the shopper ----------------------------------------------------------------------

def _contact(case: ReturnCase) -> tuple[str, str, int | None] | None:
    conv = case.conversation_id or (Conversation.objects.filter(shop_id=case.shop_id, customer_id=case.customer_id)
                                    .order_by("-id").values_list("id", flat=True).first() if case.customer_id else None)
    if conv:
        return Channel.CHAT, str(conv), conv
    phone = case.order.receiver_phone or (case.customer.phone if case.customer_id else "")
    return (Channel.SMS, phone, None) if phone else None


def _notify(case: ReturnCase, step: CaseStep, **extra) -> None:
    """The shopper hears of the state reached (key per step: exactly once)."""
    contact = _contact(case)
    if contact is None:
        return
    cfg = shop_settings(case.shop_id)
    context = {"order_no": case.order.order_no, "kind": CaseKind(case.kind).label,
               "reason": CaseReason(case.reason).label, "note": step.note, "postage": postage_line(case),
               "return_name": cfg.return_name, "return_phone": cfg.return_phone,
               "return_address": cfg.return_address, "amount": case.refunded_amount,
               "carrier": case.replacement_carrier, "tracking_no": case.replacement_tracking_no,
               "due": timezone.localtime(case.approve_due_at).strftime("%m-%d %H:%M"), **extra}
    channel, recipient, conversation_id = contact
    template = f"aftersales_{step.to_state}"
    body = notify_services.render(case.shop, template, context)
    notify_services.do_queue_notices([notify_services.build_notice(
        case.shop, key=f"aftersales-{case.pk}-{step.pk}", channel=channel, template=template, body=body,
        recipient=recipient, conversation_id=conversation_id)])


def postage_line(case: ReturnCase) -> str:
    if case.postage_payer == PostagePayer.NONE:
        return ""
    return _("退货运费：%(who)s。") % {"who": PostagePayer(case.postage_payer).label}


# --- the state machine -------------------------------------------------------------------------

def _step(case: ReturnCase, action: str, to_state: str, staff: Staff | None, *, note: str = "",
          by_shopper: bool = False, now: dt.datetime | None = None) -> CaseStep:
    seat = account_services.acting_seat(staff, case.seat) if staff is not None else None
    step = CaseStep.objects.create(case=case, action=action, from_state=case.state if action != "open" else "",
                                   to_state=to_state, staff=staff, seat=seat, by_shopper=by_shopper,
                                   note=note[:MAX_NOTE], at=now or timezone.now())
    return step


def _lock(staff: Staff | None, case: ReturnCase) -> ReturnCase:
    qs = ReturnCase.objects.select_for_update(of=("self",)).select_related("order", "customer", "shop")
    if staff is not None:
        qs = qs.filter(shop_id=staff.shop_id)
    found = qs.filter(pk=case.pk).first()
    if found is None:
        raise Http404("case not found")
    return found


def _move(staff: Staff | None, case: ReturnCase, action: str, *, note: str = "",
          by_shopper: bool = False, notify: bool = True, **fields) -> ReturnCase:
    """Check the transition (a clear Chinese error otherwise), apply FIELDS, record and tell."""
    target = TRANSITIONS.get((action, case.state))
    if target is None or (target[1] is not None and case.kind not in target[1]):
        raise ValidationError(_("售后单（%(kind)s）当前「%(state)s」，不能%(action)s") % {
            "kind": CaseKind(case.kind).label, "state": CaseState(case.state).label,
            "action": _(ACTION_LABELS[action])})
    now = timezone.now()
    step = _step(case, action, target[0], staff, note=note, by_shopper=by_shopper, now=now)
    for name, value in fields.items():
        setattr(case, name, value)
    case.state = target[0]
    if case.state == CaseState.RECEIVED:
        case.received_at = now
        case.refund_due_at = now + dt.timedelta(days=shop_settings(case.shop_id).refund_within_days)
    case.save()
    if notify:
        _notify(case, step)
    return case


def _payment_left(order: Order) -> Decimal:
    return max(Decimal(0), order.paid_amount - order.refunded_amount)


@transaction.atomic(savepoint=False)
def do_open_case(staff: Staff, order: Order, *, kind: str, reason: str, description: str = "",
                 amount=None, conversation: Conversation | None = None,
                 photo_message_ids: list[int] | None = None) -> ReturnCase:
    """Open a case about ORDER (from the conversation or the order panel)."""
    account_services.require_role(staff, CASE_ROLES)
    if order.shop_id != staff.shop_id or (conversation is not None and conversation.shop_id != staff.shop_id):
        raise Http404("order not found")
    if kind not in CaseKind.values:
        raise ValidationError(_("售后类型不对"))
    if reason not in CaseReason.values:
        raise ValidationError(_("售后原因不对"))
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.paid_at is None and order.paid_amount <= 0:
        raise ValidationError(_("未付款的订单不能申请售后"))
    requested = Decimal(0)
    if kind in (CaseKind.REFUND_ONLY, CaseKind.RETURN_REFUND):
        requested = check_amount(amount if amount not in (None, "") else _payment_left(order))
        if requested > _payment_left(order):
            raise ValidationError(_("退款金额不能超过实付减已退：%(left)s 元") % {"left": _payment_left(order)})
    now = timezone.now()
    cfg = shop_settings(staff.shop_id)
    payer, rule, why = decide_postage(cfg, kind, reason, order, now)
    photos = _photos(staff, conversation, photo_message_ids or [])
    seat = conversation.seat if conversation is not None else None
    case = ReturnCase.objects.create(
        shop_id=staff.shop_id, order=order, customer_id=order.buyer_id or (conversation.customer_id if conversation
                                                                           else None),
        conversation=conversation, seat=account_services.acting_seat(staff, seat), kind=kind, reason=reason,
        description=_text(description, 500), photo_message_ids=photos, requested_amount=requested,
        postage_payer=payer, postage_rule=rule, postage_why=why[:200], opened_by=staff, opened_at=now,
        approve_due_at=now + dt.timedelta(hours=cfg.approve_within_hours))
    step = _step(case, "open", CaseState.REQUESTED, staff, note=case.description, now=now)
    _notify(case, step)
    return case


def _photos(staff: Staff, conversation: Conversation | None, ids: list) -> list[int]:
    """Image messages of the case's own conversation only (a photo from another chat is refused)."""
    from xiaoer.chat.models import Message

    wanted = {int(i) for i in ids[:20] if str(i).isdigit()}
    if not wanted:
        return []
    if conversation is None:
        raise ValidationError(_("照片只能来自本会话"))
    found = set(Message.objects.filter(pk__in=wanted, conversation=conversation, kind="image")
                .values_list("id", flat=True))
    if found != wanted:
        raise ValidationError(_("照片只能来自本会话的图片消息"))
    return sorted(found)


@transaction.atomic(savepoint=False)
def do_approve(staff: Staff, case: ReturnCase, note: str = "") -> ReturnCase:
    account_services.require_role(staff, CASE_ROLES)
    case = _lock(staff, case)
    return _move(staff, case, "approve", note=_text(note))


@transaction.atomic(savepoint=False)
def do_reject(staff: Staff, case: ReturnCase, reason: str) -> ReturnCase:
    account_services.require_role(staff, CASE_ROLES)
    reason = _text(reason)
    if not reason:
        raise ValidationError(_("拒绝必须填写原因（会告诉顾客）"))
    case = _lock(staff, case)
    return _move(staff, case, "reject", note=reason, reject_reason=reason)


@transaction.atomic(savepoint=False)
def do_override_postage(staff: Staff, case: ReturnCase, payer: str, note: str) -> ReturnCase:
    """Overrule the postage rule; the note says why (kept with the rule that applied)."""
    account_services.require_role(staff, CASE_ROLES)
    note = _text(note)
    if not note:
        raise ValidationError(_("修改运费承担方必须填写说明"))
    if payer not in (PostagePayer.BUYER, PostagePayer.SHOP, PostagePayer.INSURANCE):
        raise ValidationError(_("运费承担方不对"))
    case = _lock(staff, case)
    if case.kind not in RETURN_KINDS or case.state not in (CaseState.REQUESTED, CaseState.APPROVED,
                                                           CaseState.AWAITING_RETURN):
        raise ValidationError(_("当前售后单不能修改运费承担方"))
    _step(case, "override_postage", case.state, staff, note=f"{case.postage_payer}→{payer}：{note}")
    case.postage_payer, case.postage_rule, case.postage_override_note = payer, "override", note
    case.save()
    return case


@transaction.atomic(savepoint=False)
def do_send_return_address(staff: Staff, case: ReturnCase) -> ReturnCase:
    """Tell the shopper where to send it (a card in the chat when they have one, else SMS)."""
    account_services.require_role(staff, CASE_ROLES)
    cfg = shop_settings(staff.shop_id)
    if not cfg.return_address:
        raise ValidationError(_("请先在售后设置里填写退货地址"))
    case = _lock(staff, case)
    in_chat = case.conversation_id is not None and case.customer_id is not None
    case = _move(staff, case, "send_address", notify=not in_chat)
    if in_chat:
        # A system card built here from the database (any case role may send it, not only the seat's
        # operator); its client id makes a retry the same message.
        from xiaoer.chat import writer

        body, payload = chat_card(case.shop_id, case.customer_id, case.pk)
        writer.post_message_sync(case.conversation_id, sender_kind="system", kind="card", body=body,
                                 payload=payload, client_id=f"return-address-{case.pk}")
    return case


@transaction.atomic(savepoint=False)
def do_set_return_tracking(staff: Staff | None, case: ReturnCase, *, carrier: str, tracking_no: str) -> ReturnCase:
    """The shopper (STAFF None, through their signed link) or an agent enters the return parcel."""
    if staff is not None:
        account_services.require_role(staff, CASE_ROLES)
    carrier, tracking_no = _text(carrier, 50), _text(tracking_no, 64)
    if not carrier or not tracking_no:
        raise ValidationError(_("请填写快递公司和运单号"))
    case = _lock(staff, case)
    if case.state != CaseState.AWAITING_RETURN:
        raise ValidationError(_("售后单当前「%(state)s」，不能填写退货运单") % {"state": CaseState(case.state).label})
    _step(case, "return_tracking", case.state, staff, note=f"{carrier} {tracking_no}", by_shopper=staff is None)
    case.return_carrier, case.return_tracking_no = carrier, tracking_no
    case.save()
    return case


@transaction.atomic(savepoint=False)
def do_confirm_receipt(staff: Staff, case: ReturnCase, condition: str = "") -> ReturnCase:
    """The warehouse confirms the parcel came back, and in what condition."""
    account_services.require_role(staff, RECEIPT_ROLES)
    case = _lock(staff, case)
    return _move(staff, case, "receive", note=_text(condition), received_condition=_text(condition))


@transaction.atomic(savepoint=False)
def do_refund(staff: Staff, case: ReturnCase, amount=None, note: str = "") -> ReturnCase:
    """Refund (never above paid − already refunded; above the shop's agent limit only a
    supervisor); the order's refunded amount and status follow, with an order change entry."""
    account_services.require_role(staff, CASE_ROLES)
    case = _lock(staff, case)
    if (("refund", case.state) not in TRANSITIONS):
        return _move(staff, case, "refund")  # raises the clear error
    amount = check_amount(amount if amount not in (None, "") else case.requested_amount)
    order = Order.objects.select_for_update().get(pk=case.order_id)
    left = _payment_left(order)
    if amount > left:
        raise ValidationError(_("退款金额不能超过实付减已退：%(left)s 元") % {"left": left})
    if amount > shop_settings(staff.shop_id).agent_refund_limit and staff.role not in OVER_LIMIT_ROLES:
        raise PermissionDenied(_("退款超过店铺设定的客服限额，需要主管操作"))
    case = _move(staff, case, "refund", note=_text(note) or f"{amount}", notify=False,
                 refunded_amount=case.refunded_amount + amount)
    _refund_order(staff, case, order, amount)
    _notify(case, case.steps.last())
    return case


def _refund_order(staff: Staff, case: ReturnCase, order: Order, amount: Decimal) -> None:
    old = (str(order.refunded_amount), order.status)
    order.refunded_amount += amount
    now = timezone.now()
    if order.refunded_amount >= order.paid_amount:
        order.status, order.closed_at = OrderStatus.CLOSED, order.closed_at or now
        order.close_reason = order.close_reason or _("全额退款")[:200]
    elif order.status not in (OrderStatus.CLOSED, OrderStatus.COMPLETED, OrderStatus.DELIVERED):
        order.status = OrderStatus.REFUNDING
    order.refund_at = order.refund_at or now
    order.save()
    changes = {"refunded_amount": [old[0], str(order.refunded_amount)]}
    if order.status != old[1]:
        changes["status"] = [old[1], order.status]
    seat = case.steps.last().seat
    change = OrderChange.objects.create(shop_id=order.shop_id, order=order, kind="refund",
                                        reason=_("售后单 #%(id)s 退款 %(amount)s 元") % {"id": case.pk, "amount": amount},
                                        staff=staff, seat=seat, changes=changes, at=now)
    emit(OrderChanged(shop_id=order.shop_id, order_id=order.pk, change_id=change.pk, kind="refund",
                      staff_id=staff.pk, seat_id=seat.pk if seat else None, fields=sorted(changes)))
    if order.status == OrderStatus.CLOSED and old[1] != OrderStatus.CLOSED:
        emit(OrderClosed(shop_id=order.shop_id, order_ids=[order.pk], staff_id=staff.pk, reason="refund"))


@transaction.atomic(savepoint=False)
def do_ship_replacement(staff: Staff, case: ReturnCase, *, carrier: str, tracking_no: str) -> ReturnCase:
    account_services.require_role(staff, CASE_ROLES | {Role.WAREHOUSE})
    carrier, tracking_no = _text(carrier, 50), _text(tracking_no, 64)
    if not carrier or not tracking_no:
        raise ValidationError(_("请填写快递公司和运单号"))
    case = _lock(staff, case)
    return _move(staff, case, "ship_replacement", note=f"{carrier} {tracking_no}",
                 replacement_carrier=carrier, replacement_tracking_no=tracking_no)


@transaction.atomic(savepoint=False)
def do_close(staff: Staff, case: ReturnCase, note: str = "") -> ReturnCase:
    account_services.require_role(staff, CASE_ROLES)
    case = _lock(staff, case)
    return _move(staff, case, "close", note=_text(note))


# --- the return-address card and the shopper's link --------------------------------------------

def make_token(case: ReturnCase, shop: Shop) -> str:
    return signing.TimestampSigner(salt=f"{LINK_SALT}:{shop.secret}").sign_object({"r": case.pk})


def link_path(case: ReturnCase) -> str:
    return reverse("aftersales-return-link", args=[case.shop.slug, make_token(case, case.shop)])


def resolve_token(shop_slug: str, token: str) -> ReturnCase:
    """The case a shopper's link names; Http404 for anything else (bad, altered, another shop's)."""
    shop = Shop.objects.filter(slug=str(shop_slug)[:50]).first()
    if shop is None or len(token or "") > 300:
        raise Http404("not found")
    try:
        data = signing.TimestampSigner(salt=f"{LINK_SALT}:{shop.secret}").unsign_object(
            token, max_age=60 * 60 * 24 * 90)
        return ReturnCase.objects.select_related("order", "shop").get(pk=int(data["r"]), shop=shop)
    except (signing.BadSignature, KeyError, TypeError, ValueError, ReturnCase.DoesNotExist):
        raise Http404("not found") from None


def chat_card(shop_id: int, customer_id: int, ref) -> tuple[str, dict]:
    """The return-address card (registered with xiaoer.chat.cards as "return_address", staff only)."""
    try:
        case = ReturnCase.objects.select_related("shop", "order").get(pk=int(ref), shop_id=shop_id,
                                                                      customer_id=customer_id)
        Customer.objects.get(pk=customer_id, shop_id=shop_id)
    except (ReturnCase.DoesNotExist, Customer.DoesNotExist, TypeError, ValueError, OverflowError):
        raise LookupError("case not found") from None
    cfg = shop_settings(shop_id)
    body = _("退货地址：%(name)s，%(phone)s，%(address)s") % {
        "name": cfg.return_name, "phone": cfg.return_phone, "address": cfg.return_address}
    return body[:1000], {"type": "return_address", "case": case.pk, "order_no": case.order.order_no,
                         "name": cfg.return_name, "phone": cfg.return_phone, "address": cfg.return_address,
                         "postage": postage_line(case), "url": link_path(case),
                         "title": _("退货地址"), "link_text": _("填写退货运单")}


# --- one entry point for the edges (API, pages) -------------------------------------------------

def do_step(staff: Staff, case: ReturnCase, action: str, data: dict) -> ReturnCase:
    """Run ACTION on CASE with the fields of DATA (the API's and the case page's single form)."""
    get = data.get
    runs = {
        "approve": lambda: do_approve(staff, case, get("note", "")),
        "reject": lambda: do_reject(staff, case, get("note", "")),
        "postage": lambda: do_override_postage(staff, case, str(get("payer", "")), get("note", "")),
        "send_address": lambda: do_send_return_address(staff, case),
        "tracking": lambda: do_set_return_tracking(staff, case, carrier=get("carrier", ""),
                                                   tracking_no=get("tracking_no", "")),
        "receive": lambda: do_confirm_receipt(staff, case, get("note", "")),
        "refund": lambda: do_refund(staff, case, get("amount"), get("note", "")),
        "ship_replacement": lambda: do_ship_replacement(staff, case, carrier=get("carrier", ""),
                                                        tracking_no=get("tracking_no", "")),
        "close": lambda: do_close(staff, case, get("note", "")),
    }
    run = runs.get(str(action))
    if run is None:
        raise ValidationError(_("未知的售后操作"))
    return run()


def case_json(case: ReturnCase, *, detail: bool = False) -> dict:
    due = due_at(case)
    data = {
        "id": case.pk, "order_id": case.order_id, "order_no": case.order.order_no, "customer_id": case.customer_id,
        "conversation_id": case.conversation_id, "seat_id": case.seat_id, "kind": case.kind,
        "kind_label": str(CaseKind(case.kind).label), "reason": case.reason,
        "reason_label": str(CaseReason(case.reason).label), "state": case.state,
        "state_label": str(CaseState(case.state).label), "description": case.description,
        "requested_amount": str(case.requested_amount), "refunded_amount": str(case.refunded_amount),
        "postage_payer": case.postage_payer, "postage_rule": case.postage_rule, "postage_why": case.postage_why,
        "postage_override_note": case.postage_override_note, "reject_reason": case.reject_reason,
        "return_carrier": case.return_carrier, "return_tracking_no": case.return_tracking_no,
        "received_condition": case.received_condition, "replacement_carrier": case.replacement_carrier,
        "replacement_tracking_no": case.replacement_tracking_no, "photo_message_ids": case.photo_message_ids,
        "opened_at": case.opened_at.isoformat(), "due_at": due.isoformat() if due else None,
        "overdue": is_overdue(case),
    }
    if detail:
        data["steps"] = [{"action": s.action, "from_state": s.from_state, "to_state": s.to_state,
                          "staff": s.staff.display_name if s.staff else None, "staff_id": s.staff_id,
                          "seat": s.seat.display_name if s.seat else None, "seat_id": s.seat_id,
                          "by_shopper": s.by_shopper, "note": s.note, "at": s.at.isoformat()}
                         for s in case.steps.select_related("staff", "seat")]
    return data


def settings_json(cfg: ReturnSettings) -> dict:
    return {"approve_within_hours": cfg.approve_within_hours, "refund_within_days": cfg.refund_within_days,
            "no_reason_days": cfg.no_reason_days, "shipping_insurance": cfg.shipping_insurance,
            "agent_refund_limit": str(cfg.agent_refund_limit), "postage_table": postage_table(cfg),
            "return_name": cfg.return_name, "return_phone": cfg.return_phone, "return_address": cfg.return_address}
