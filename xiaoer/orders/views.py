"""Pages: the order and task side panels of the workbench (htmx partials), the colleagues' task
queue, the shopper's order cards and the order webhook. Thin: parse, call a service, render."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role
from xiaoer.chat import access
from xiaoer.chat import services as chat_services
from xiaoer.orders import services as order_services
from xiaoer.orders import webhooks
from xiaoer.orders.models import OrderStatus, TaskKind, UnpaidCause


def _panel(request: HttpRequest, staff, conversation, error: str = "", status: int = 200) -> HttpResponse:
    orders = order_services.orders_of_customer(conversation.customer_id)
    return render(request, "orders/panel.html", {
        "staff": staff, "conversation": conversation, "orders": orders, "error": error,
        "causes": UnpaidCause.choices, "S": OrderStatus,
        # the chat's one rule: order actions only where the agent may answer the customer
        "can_act": staff.role in order_services.CHAT_ROLES and chat_services.may_reply(staff, conversation),
        "refused": "" if chat_services.may_reply(staff, conversation) else str(access.REPLY_REFUSED),
    }, status=status)


@login_required
@require_GET
def orders_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    staff = account_services.staff_of(request)
    return _panel(request, staff, order_services.access_conversation(staff, conversation_id))


def _run_action(staff, order, action: str, post) -> None:
    if action == "cause":
        order_services.do_record_unpaid_cause(staff, order, post.get("cause", ""), post.get("note", "")[:300])
    elif action == "remind":
        order_services.do_remind_now(staff, order)
    elif action == "guide":
        order_services.do_guide_payment(staff, order)
    elif action == "close":
        order_services.do_close_order(staff, order, post.get("reason", "")[:200])
    elif action == "confirm":
        order_services.do_confirm_order(staff, order)
    elif action == "ask_confirm":
        order_services.do_ask_confirmation(staff, order)
    elif action == "change":
        changes = {f: post[f] for f in order_services.CHANGEABLE_FIELDS if post.get(f, "").strip()}
        order_services.do_change_order(staff, order, reason=post.get("reason", ""), changes=changes)
    elif action == "shipping":
        order_services.do_set_shipping(staff, order, carrier=post.get("carrier", ""),
                                       tracking_no=post.get("tracking_no", ""))
    elif action == "stock_check":
        order_services.do_raise_stock_check(staff, order, post.get("question", "")[:1000])
    else:
        raise ValidationError("未知操作")


@login_required
@require_POST
def order_action(request: HttpRequest, order_id: int, action: str) -> HttpResponse:
    staff = account_services.staff_of(request)
    conversation = order_services.access_conversation(staff, request.POST.get("conversation", ""))
    order = order_services.access_order(staff, order_id)
    if order.buyer_id != conversation.customer_id:
        raise PermissionDenied("这个订单不属于当前会话的顾客")
    try:
        with transaction.atomic():  # the edge's unit of work; the error page is rendered outside it
            _run_action(staff, order, action, request.POST)
    except ValidationError as exc:
        return _panel(request, staff, conversation, error="；".join(exc.messages), status=422)
    except PermissionDenied as exc:
        return _panel(request, staff, conversation, error=str(exc), status=403)
    return _panel(request, staff, conversation)


def _tasks_panel(request, staff, conversation, error: str = "", status: int = 200) -> HttpResponse:
    return render(request, "orders/tasks_panel.html", {
        "staff": staff, "conversation": conversation, "error": error,
        "tasks": order_services.tasks_of_conversation(conversation),
        "kinds": [(k, label) for k, label in TaskKind.choices if k != TaskKind.STOCK_CHECK],
        "unstaffed": order_services.unstaffed_roles(staff.shop_id),
        "orders": order_services.orders_of_customer(conversation.customer_id, limit=10),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def tasks_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    staff = account_services.staff_of(request)
    conversation = order_services.access_conversation(staff, conversation_id)
    if request.method == "POST":
        order = None
        if request.POST.get("order"):
            order = order_services.access_order(staff, request.POST["order"])
        try:
            with transaction.atomic():
                order_services.do_raise_task(staff, kind=request.POST.get("kind", ""),
                                             question=request.POST.get("question", ""),
                                             conversation=conversation, order=order)
        except ValidationError as exc:
            return _tasks_panel(request, staff, conversation, "；".join(exc.messages), status=422)
    return _tasks_panel(request, staff, conversation)


@login_required
@require_GET
def task_queue(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request)
    if staff.role == Role.AGENT:
        return redirect("desk")
    show_all = request.GET.get("all") == "1"
    return render(request, "orders/task_queue.html", {
        "staff": staff, "tasks": order_services.task_queue(staff, include_answered=show_all),
        "show_all": show_all, "error": request.GET.get("error", "")[:200],
        "unstaffed": order_services.unstaffed_roles(staff.shop_id),
    })


@login_required
@require_POST
def task_answer(request: HttpRequest, task_id: int) -> HttpResponse:
    staff = account_services.staff_of(request)
    task = order_services.access_task(staff, task_id)
    stock = request.POST.get("stock")
    short_by = request.POST.get("short_by", "").strip()
    try:
        with transaction.atomic():
            order_services.do_answer_task(
                staff, task, answer=request.POST.get("answer", ""),
                in_stock={"in": True, "short": False}.get(stock or ""),
                short_by=int(short_by) if short_by.isdigit() else None)
    except ValidationError as exc:
        return redirect(reverse("orders-task-queue") + "?error=" + "；".join(exc.messages)[:150])
    return redirect("orders-task-queue")


@csrf_exempt
@require_POST
def order_webhook(request: HttpRequest, shop_slug: str) -> JsonResponse:
    try:
        result = webhooks.handle(shop_slug, request.body, request.headers.get(webhooks.SIGNATURE_HEADER))
    except webhooks.WebhookError as exc:
        return JsonResponse({"detail": exc.detail}, status=exc.status)
    return JsonResponse(result)


# --- the shopper's side: own orders as cards ----------------------------------------------------

def _shopper(request: HttpRequest, slug: str):
    from xiaoer.chat import auth
    from xiaoer.customers.models import Customer

    header = request.headers.get("Authorization", "")
    claims = auth.read_shopper_token(header[7:].strip() if header.startswith("Bearer ") else "")
    if claims is None:
        return None
    customer = Customer.objects.select_related("shop").filter(pk=claims[1], shop_id=claims[0]).first()
    if customer is None or customer.shop.slug != slug:
        return None
    return customer


@require_GET
def shopper_orders(request: HttpRequest, slug: str) -> JsonResponse:
    """The shopper's own orders as card payloads, to pick one to send into the chat."""
    customer = _shopper(request, slug)
    if customer is None:
        return JsonResponse({"detail": "请先开始会话"}, status=401)
    return JsonResponse({"orders": order_services.orders_for_shopper(customer)})


@csrf_exempt  # shopper calls carry a bearer token, not a cookie: nothing for CSRF to ride on
@require_POST
def shopper_send_card(request: HttpRequest, slug: str, order_no: str) -> JsonResponse:
    """Post an order card into the shopper's conversation. The payload is built here from the
    database, so the agent sees the real order whatever the client claims."""
    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer

    customer = _shopper(request, slug)
    if customer is None:
        return JsonResponse({"detail": "请先开始会话"}, status=401)
    card = order_services.card_for_shopper(customer, order_no)
    try:
        client_id = str(json.loads(request.body or b"{}").get("client_id") or "")[:64]
    except (ValueError, AttributeError):
        client_id = ""
    conversation = chat_services.get_or_create_conversation(customer.shop, customer)
    message = writer.post_message_sync(conversation.pk, sender_kind="shopper", kind="card",
                                       body=f"订单 {card['order_no']}", payload=card,
                                       client_id=client_id or f"card-{uuid.uuid4().hex}")
    return JsonResponse({"message": message}, status=201)
