"""JSON API for orders, the workflow actions and internal tasks: /api/orders/ (session auth)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from ninja import Body, Router, Schema
from pydantic import field_validator

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Staff
from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order, OrderSource, OrderStatus, Task

router = Router(tags=["orders"])


def order_json(order: Order, viewer: Staff, *, detail: bool = False) -> dict:
    """An order as VIEWER's role may see it: receiver name, phone and address only for
    ORDER_CONTACT_ROLES, the phone masked unless the role is in PHONE_VISIBLE_ROLES."""
    data = {
        "id": order.pk, "order_no": order.order_no, "status": order.status,
        "status_label": str(OrderStatus(order.status).label), "buyer_id": order.buyer_id,
        "total_amount": str(order.total_amount), "paid_amount": str(order.paid_amount),
        "refunded_amount": str(order.refunded_amount), "receiver_name": order.receiver_name,
        "receiver_phone": order.receiver_phone, "receiver_address": order.receiver_address,
        "buyer_message": order.buyer_message, "coupon_code": order.coupon_code, "carrier": order.carrier,
        "tracking_no": order.tracking_no,
        "attributed_seat_id": order.attributed_seat_id, "remind_state": order.remind_state,
        "unpaid_cause": order.unpaid_cause, "confirm_state": order.confirm_state,
        "source": order.source,
    }
    if not account_services.sees_contact_details(viewer):
        data["receiver_name"] = data["receiver_phone"] = data["receiver_address"] = None
    else:
        data["receiver_phone"] = account_services.phone_for(viewer, order.receiver_phone)
    for field in ("created_at", "paid_at", "confirmed_at", "shipped_at", "delivered_at", "completed_at",
                  "closed_at", "refund_at", "reminded_at"):
        value = getattr(order, field)
        data[field] = value.isoformat() if value else None
    if detail:
        data["items"] = [{"title": i.title, "sku": i.sku, "quantity": i.quantity,
                          "unit_price": str(i.unit_price) if i.unit_price is not None else None}
                         for i in order.items.all()]
        data["changes"] = [change_json(c) for c in order.changes.select_related("staff", "seat")]
    return data


def change_json(change) -> dict:
    return {"id": change.pk, "kind": change.kind, "reason": change.reason, "changes": change.changes,
            "staff": change.staff.display_name if change.staff else None, "staff_id": change.staff_id,
            "seat": change.seat.display_name if change.seat else None, "seat_id": change.seat_id,
            "at": change.at.isoformat()}


def task_json(task: Task) -> dict:
    return {"id": task.pk, "kind": task.kind, "assignee_role": task.assignee_role, "status": task.status,
            "order_id": task.order_id, "conversation_id": task.conversation_id, "question": task.question,
            "answer": task.answer, "in_stock": task.in_stock, "short_by": task.short_by,
            "raised_by_id": task.raised_by_id, "answered_by_id": task.answered_by_id,
            "created_at": task.created_at.isoformat(),
            "answered_at": task.answered_at.isoformat() if task.answered_at else None}


@router.get("/")
def list_orders(request, customer_id: int | None = None, status: str | None = None, q: str = "",
                limit: int = 50):
    staff = account_services.staff_of(request)
    qs = Order.objects.filter(shop_id=staff.shop_id).order_by("-created_at", "-id")
    if customer_id is not None:
        qs = qs.filter(buyer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    if q:
        qs = qs.filter(order_no__startswith=q[:64])
    return {"orders": [order_json(o, staff) for o in qs[:max(1, min(limit, 200))]]}


@router.post("/")
def upsert_order(request, payload: dict = Body(...)):  # noqa: B008 - ninja idiom
    """Create or update one order (same fields as the webhook's ``order``)."""
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.require_role(account_services.staff_of(request), account_services.SUPERVISOR_ROLES)
        try:
            row = parsing.clean_order(payload, ZoneInfo(staff.shop.timezone))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        order, outcome = order_services.do_upsert_order(staff, staff.shop, row, source=OrderSource.API, reason="接口")
        return {"status": outcome, "order": order_json(order, staff, detail=True)}


@router.get("/{int:order_id}")
def get_order(request, order_id: int):
    staff = account_services.staff_of(request)
    return order_json(order_services.access_order(staff, order_id), staff, detail=True)


@router.get("/{int:order_id}/card")
def get_card(request, order_id: int):
    return order_services.order_card(order_services.access_order(account_services.staff_of(request), order_id))


class CauseIn(Schema):
    cause: str
    note: str = ""


@router.post("/{int:order_id}/cause")
def record_cause(request, order_id: int, body: CauseIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        order = order_services.do_record_unpaid_cause(staff, order_services.access_order(staff, order_id),
                                                      body.cause, body.note)
        return order_json(order, staff)


@router.post("/{int:order_id}/remind")
def remind_now(request, order_id: int):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        return {"claimed": order_services.do_remind_now(staff, order_services.access_order(staff, order_id))}


@router.post("/{int:order_id}/guide")
def guide_payment(request, order_id: int):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        return {"sent": order_services.do_guide_payment(staff, order_services.access_order(staff, order_id))}


class ReasonIn(Schema):
    reason: str


@router.post("/{int:order_id}/close")
def close_order(request, order_id: int, body: ReasonIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        return order_json(order_services.do_close_order(staff, order_services.access_order(staff, order_id),
                                                        body.reason), staff)


@router.post("/{int:order_id}/confirm")
def confirm_order(request, order_id: int):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        return order_json(order_services.do_confirm_order(staff, order_services.access_order(staff, order_id)), staff)


class ChangeIn(Schema):
    reason: str
    changes: dict[str, str] = {}


@router.post("/{int:order_id}/change")
def change_order(request, order_id: int, body: ChangeIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        change = order_services.do_change_order(staff, order_services.access_order(staff, order_id),
                                                reason=body.reason, changes=body.changes)
        return change_json(change)


class ShippingIn(Schema):
    carrier: str
    tracking_no: str


@router.post("/{int:order_id}/shipping")
def set_shipping(request, order_id: int, body: ShippingIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        order = order_services.do_set_shipping(staff, order_services.access_order(staff, order_id),
                                               carrier=body.carrier, tracking_no=body.tracking_no)
        return order_json(order, staff)


class StockCheckIn(Schema):
    question: str = ""


@router.post("/{int:order_id}/stock-check")
def raise_stock_check(request, order_id: int, body: StockCheckIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        task = order_services.do_raise_stock_check(staff, order_services.access_order(staff, order_id), body.question)
        return task_json(task)


@router.get("/conversation/{int:conversation_id}")
def conversation_orders(request, conversation_id: int):
    """The shopper's orders for a conversation (chat roles only: this reads a chat)."""
    staff = account_services.staff_of(request)
    conversation = order_services.access_conversation(staff, conversation_id)
    return {"orders": [order_json(o, staff, detail=True) for o in order_services.orders_of_customer(conversation.customer_id)],
            "tasks": [task_json(t) for t in order_services.tasks_of_conversation(conversation)]}


@router.get("/tasks")
def list_tasks(request, include_answered: bool = False):
    return {"tasks": [task_json(t) for t in order_services.task_queue(account_services.staff_of(request),
                                                                      include_answered=include_answered)]}


class TaskIn(Schema):
    kind: str
    question: str
    conversation_id: int | None = None
    order_id: int | None = None


@router.post("/tasks")
def raise_task(request, body: TaskIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        conversation = (order_services.access_conversation(staff, body.conversation_id)
                        if body.conversation_id else None)
        order = order_services.access_order(staff, body.order_id) if body.order_id else None
        return task_json(order_services.do_raise_task(staff, kind=body.kind, question=body.question,
                                                      conversation=conversation, order=order))


class AnswerIn(Schema):
    answer: str = ""
    in_stock: bool | None = None
    short_by: int | None = None


@router.post("/tasks/{int:task_id}/answer")
def answer_task(request, task_id: int, body: AnswerIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        task = order_services.do_answer_task(staff, order_services.access_task(staff, task_id), answer=body.answer,
                                             in_stock=body.in_stock, short_by=body.short_by)
        return task_json(task)


@router.get("/recovery")
def recovery(request, days: int = 30):
    staff = account_services.require_role(account_services.staff_of(request), account_services.SUPERVISOR_ROLES)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=max(1, min(days, 366)))
    return order_services.recovery_stats(staff.shop, since=since)


class SettingsIn(Schema):
    remind_after_minutes: int | None = None
    confirm_timeout_minutes: int | None = None
    quiet_start: dt.time | None = None
    quiet_end: dt.time | None = None
    quiet_enabled: bool | None = None

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _local_time(cls, value: dt.time | None) -> dt.time | None:
        # Quiet hours are the shop's local clock (its time zone is the shop's), so "22:00+08:00" is refused.
        if value is not None and value.tzinfo is not None:
            raise ValueError("a local time HH:MM without a time zone (the shop's time zone applies)")
        return value


def _settings_json(row) -> dict:
    return {"remind_after_minutes": row.remind_after_minutes, "confirm_timeout_minutes": row.confirm_timeout_minutes,
            "quiet_start": row.quiet_start.strftime("%H:%M"), "quiet_end": row.quiet_end.strftime("%H:%M"),
            "quiet_enabled": row.quiet_enabled}


@router.get("/settings")
def get_settings(request):
    staff = account_services.staff_of(request)
    return _settings_json(order_services.shop_settings(staff.shop))


@router.put("/settings")
def put_settings(request, body: SettingsIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        return _settings_json(order_services.do_update_settings(account_services.staff_of(request), **body.dict()))

