"""Order confirmation, stock checks, change notes, shipping, internal tasks and role rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from xiaoer.chat.models import Message
from xiaoer.notify import services as notify_services
from xiaoer.orders import services as order_services
from xiaoer.orders.models import ConfirmState, OrderChange, OrderStatus, TaskKind, TaskStatus
from xiaoer.testing import PASSWORD, make_shop, make_staff

from .conftest import local


def _shopper_texts(world) -> list[str]:
    return list(Message.objects.filter(conversation=world.conversation, sender_kind="system")
                .values_list("body", flat=True))


# Sweeps stay quiet in the shop's quiet hours (22:00–08:00 Shanghai): tests that sweep use a fixed
# daytime clock, never the wall clock, or they would fail whenever the suite runs at night there.
DAYTIME = local(2026, 3, 2, 10, 0)


def _paid(world, at: dt.datetime | None = None, **fields):
    now = at or timezone.now()
    return world.order(created_at=now - dt.timedelta(minutes=10), paid_at=now - dt.timedelta(minutes=5),
                       paid_amount="99", **fields)


def test_confirmation_asks_once_then_proceeds_with_order_address_on_timeout(world):
    now = DAYTIME
    order = _paid(world, at=now)
    assert order_services.run_confirmation_sweep(now=now)["asked"] == 1
    assert order_services.run_confirmation_sweep(now=now + dt.timedelta(minutes=1))["asked"] == 0
    texts = _shopper_texts(world)
    assert len(texts) == 1 and "上海市浦东新区" in texts[0]
    assert order_services.run_confirmation_sweep(now=now + dt.timedelta(minutes=119))["timed_out"] == 0
    assert order_services.run_confirmation_sweep(now=now + dt.timedelta(minutes=121))["timed_out"] == 1
    assert order_services.run_confirmation_sweep(now=now + dt.timedelta(minutes=200))["timed_out"] == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED and order.confirm_state == ConfirmState.TIMEOUT
    note = order.changes.get(kind="confirm_timeout")
    assert "按订单上的地址" in note.reason


def test_correction_becomes_an_order_change_and_shopper_is_told(world):
    order = _paid(world, at=DAYTIME)
    assert order_services.run_confirmation_sweep(now=DAYTIME)["asked"] == 1
    change = order_services.do_change_order(world.agent, order, reason="顾客核对时更正地址",
                                            changes={"receiver_address": "北京市海淀区某街 9 号"})
    order_services.do_confirm_order(world.agent, order)
    notify_services.sweep()
    order.refresh_from_db()
    assert order.receiver_address == "北京市海淀区某街 9 号" and order.status == OrderStatus.CONFIRMED
    assert change.staff == world.agent and change.seat == world.seat
    assert change.changes == {"receiver_address": ["上海市浦东新区某路 1 号", "北京市海淀区某街 9 号"]}
    assert any("北京市海淀区某街 9 号" in t and "顾客核对时更正地址" in t for t in _shopper_texts(world))


def test_change_notice_by_sms_when_no_chat(world, outbox):
    order = _paid(world, buyer=None, receiver_phone="13600000000")
    order_services.do_change_order(world.agent, order, reason="缺货改发同款黑色")
    notify_services.sweep()
    assert len(outbox) == 1 and "缺货改发同款黑色" in outbox[0]["text"]


def test_change_log_is_append_only(world):
    order = _paid(world)
    change = order_services.do_change_order(world.agent, order, reason="备注", notify=False)
    change.reason = "改掉"
    with pytest.raises(PermissionDenied):
        change.save()
    with pytest.raises(PermissionDenied):
        change.delete()
    with pytest.raises(PermissionDenied):
        OrderChange.objects.filter(order=order).update(reason="x")
    with pytest.raises(PermissionDenied):
        OrderChange.objects.filter(order=order).delete()
    assert OrderChange.objects.get(pk=change.pk).reason == "备注"


def test_change_needs_a_reason(world):
    with pytest.raises(ValidationError), transaction.atomic():  # the test is the edge
        order_services.do_change_order(world.agent, _paid(world), reason="  ")


def test_stock_check_only_warehouse_answers(world):
    order = _paid(world)
    task = order_services.do_raise_stock_check(world.agent, order)
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_STOCK_CHECK
    for colleague in (world.agent, world.aftersales, world.shop.staff.get(role="owner")):
        with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
            order_services.do_answer_task(colleague, task, in_stock=True)
    other_warehouse = make_staff(make_shop(), "warehouse")
    with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
        order_services.do_answer_task(other_warehouse, task, in_stock=True)
    assert [t.pk for t in order_services.task_queue(world.warehouse)] == [task.pk]
    assert order_services.task_queue(world.aftersales) == []
    order_services.do_answer_task(world.warehouse, task, in_stock=False, short_by=1, answer="白色 L 只剩 0 件")
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    assert order.changes.filter(kind="stock_short").exists()
    with pytest.raises(ValidationError), transaction.atomic():  # the test is the edge
        order_services.do_answer_task(world.warehouse, task, in_stock=True)


def test_stock_check_in_stock_then_shipping_notice_once(world):
    order = _paid(world)
    task = order_services.do_raise_stock_check(world.agent, order)
    order_services.do_answer_task(world.warehouse, task, in_stock=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_SHIP
    order_services.do_set_shipping(world.warehouse, order, carrier="圆通", tracking_no="YT001")
    order_services.do_set_shipping(world.agent, order, carrier="圆通", tracking_no="YT002")
    notify_services.sweep()
    shipping = [t for t in _shopper_texts(world) if "发货" in t]
    assert len(shipping) == 1 and "YT001" in shipping[0]
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED and order.tracking_no == "YT002"


def test_unpaid_cause_and_close(world):
    order = world.order()
    order_services.do_record_unpaid_cause(world.agent, order, "hesitating", "在比较两个颜色")
    with pytest.raises(ValidationError), transaction.atomic():  # the test is the edge
        order_services.do_record_unpaid_cause(world.agent, order, "aliens")
    with pytest.raises(ValidationError), transaction.atomic():  # the test is the edge
        order_services.do_close_order(world.agent, order, "")
    order_services.do_close_order(world.agent, order, "顾客重复拍下")
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED and order.unpaid_cause == "hesitating"
    assert [c.kind for c in order.changes.all()] == ["close", "unpaid_cause"]
    with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
        order_services.do_record_unpaid_cause(world.warehouse, order, "forgot")


def test_internal_task_answer_shows_in_side_panel(world, client):
    task = order_services.do_raise_task(world.agent, kind=TaskKind.DAMAGED_PARCEL,
                                        question="顾客说外箱压坏，<b>已拍照</b>", conversation=world.conversation)
    assert task.assignee_role == "aftersales"
    with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
        order_services.do_answer_task(world.warehouse, task, answer="x")
    client.login(username=world.aftersales.user.username, password=PASSWORD)
    page = client.get("/desk/tasks")
    assert page.status_code == 200 and "外箱压坏" in page.content.decode()
    assert "<b>已拍照</b>" not in page.content.decode()  # escaped
    client.post(f"/desk/tasks/{task.pk}/answer", {"answer": "已安排补发，今天发出"})
    task.refresh_from_db()
    assert task.status == TaskStatus.ANSWERED and task.answered_by == world.aftersales
    client.logout()
    client.login(username=world.agent.user.username, password=PASSWORD)
    panel = client.get(f"/desk/c/{world.conversation.pk}/tasks")
    assert "已安排补发，今天发出" in panel.content.decode()


def test_warehouse_and_aftersales_cannot_read_chats(world, client):
    order = world.order()
    for colleague in (world.warehouse, world.aftersales):
        client.login(username=colleague.user.username, password=PASSWORD)
        for url in (f"/desk/c/{world.conversation.pk}/orders", f"/desk/c/{world.conversation.pk}/tasks",
                    f"/api/orders/conversation/{world.conversation.pk}"):
            assert client.get(url).status_code == 403, url
        response = client.post(f"/desk/orders/{order.pk}/confirm", {"conversation": world.conversation.pk})
        assert response.status_code == 403
        with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
            order_services.do_raise_task(colleague, kind="other", question="?", conversation=world.conversation)
        client.logout()


def test_agent_cannot_answer_stock_check_through_api_or_page(world, client):
    task = order_services.do_raise_stock_check(world.agent, _paid(world))
    client.login(username=world.agent.user.username, password=PASSWORD)
    response = client.post(f"/api/orders/tasks/{task.pk}/answer", {"in_stock": True},
                           content_type="application/json")
    assert response.status_code == 403
    client.post(f"/desk/tasks/{task.pk}/answer", {"stock": "in"})
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    client.logout()
    client.login(username=world.warehouse.user.username, password=PASSWORD)
    response = client.post(f"/api/orders/tasks/{task.pk}/answer", {"in_stock": True},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["in_stock"] is True


def test_order_panel_lists_orders_newest_first_with_actions(world, client):
    old = world.order(created_at=timezone.now() - dt.timedelta(days=2), item_title="旧订单商品<script>")
    new = world.order()
    client.login(username=world.agent.user.username, password=PASSWORD)
    html = client.get(f"/desk/c/{world.conversation.pk}/orders").content.decode()
    assert html.index(new.order_no) < html.index(old.order_no)
    assert "旧订单商品&lt;script&gt;" in html and "<script>" not in html
    assert f"/desk/orders/{new.pk}/cause" in html
    response = client.post(f"/desk/orders/{new.pk}/cause", {"conversation": world.conversation.pk,
                                                              "cause": "forgot", "note": ""})
    assert response.status_code == 200
    new.refresh_from_db()
    assert new.unpaid_cause == "forgot"
    response = client.post(f"/desk/orders/{new.pk}/close", {"conversation": world.conversation.pk, "reason": ""})
    assert response.status_code == 422 and "原因" in response.content.decode()


def test_other_shops_orders_are_invisible(world, client):
    order = world.order()
    other = make_shop()
    stranger = make_staff(other, "agent")
    client.login(username=stranger.user.username, password=PASSWORD)
    assert client.get(f"/api/orders/{order.pk}").status_code == 404
    assert client.get(f"/desk/c/{world.conversation.pk}/orders").status_code == 404
    assert client.get("/api/orders/").json() == {"orders": []}


def test_order_card_for_shopper(world, client):
    from xiaoer.chat import auth

    order = world.order()
    token = auth.make_shopper_token(world.shop, world.buyer)
    listed = client.get(f"/s/{world.shop.slug}/orders", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert listed["orders"][0]["order_no"] == order.order_no and listed["orders"][0]["type"] == "order"
    assert client.get(f"/s/{world.shop.slug}/orders").status_code == 401
    sent = client.post(f"/s/{world.shop.slug}/orders/{order.order_no}/card", data={"client_id": "c-1"},
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert sent.status_code == 201
    message = Message.objects.get(conversation=world.conversation, kind="card")
    assert message.sender_kind == "shopper" and message.payload["order_no"] == order.order_no
    stranger_order = world.order(buyer="someone_else")
    response = client.post(f"/s/{world.shop.slug}/orders/{stranger_order.order_no}/card",
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404


def test_api_upsert_and_detail(world, client):
    owner = world.shop.staff.get(role="owner")
    client.login(username=owner.user.username, password=PASSWORD)
    payload = {"order_no": "API-1", "buyer_id": "tb_buyer_1", "total_amount": "¥88.00",
               "created_at": timezone.now().isoformat(), "items": [{"title": "围巾", "quantity": 1}]}
    first = client.post("/api/orders/", payload, content_type="application/json").json()
    assert first["status"] == "imported" and first["order"]["total_amount"] == "88.00"
    assert client.post("/api/orders/", payload, content_type="application/json").json()["status"] == "skipped"
    detail = client.get(f"/api/orders/{first['order']['id']}").json()
    assert detail["items"][0]["title"] == "围巾"
    bad = client.post("/api/orders/", {**payload, "total_amount": "很多"}, content_type="application/json")
    assert bad.status_code == 400


def test_agent_raises_task_from_tasks_panel(world, client):
    order = world.order()
    client.login(username=world.agent.user.username, password=PASSWORD)
    response = client.post(f"/desk/c/{world.conversation.pk}/tasks",
                           {"kind": "missing_item", "question": "顾客说少了一只袜子", "order": order.pk})
    assert response.status_code == 200 and "顾客说少了一只袜子" in response.content.decode()
    [task] = order_services.task_queue(world.warehouse)
    assert (task.kind, task.order, task.conversation, task.raised_seat) == (
        "missing_item", order, world.conversation, world.seat)
    assert client.post(f"/desk/c/{world.conversation.pk}/tasks", {"kind": "missing_item", "question": ""}
                       ).status_code == 422


def test_task_events_reach_the_hub_after_commit_only(world, monkeypatch, django_capture_on_commit_callbacks):
    """The workbench learns of a raised and an answered task live; nobody hears of a write that
    rolled back."""
    from xiaoer.chat import hub

    heard: list[tuple] = []
    monkeypatch.setattr(hub, "publish_event", lambda *args, **kwargs: heard.append((args, kwargs)))
    with django_capture_on_commit_callbacks(execute=False) as pending:
        task = order_services.do_raise_task(world.agent, kind=TaskKind.DAMAGED_PARCEL, question="包裹破损，请跟进",
                                            conversation=world.conversation)
    assert heard == []  # not before the commit
    for callback in pending:
        callback()
    (args, kwargs), = heard
    assert args[:2] == (world.shop.id, "task.created") and args[2]["id"] == task.pk
    assert kwargs == {"conversation_id": world.conversation.pk}

    with django_capture_on_commit_callbacks(execute=True):
        order_services.do_answer_task(world.aftersales, task, answer="已安排补发")
    args, kwargs = heard[-1]
    assert args[1] == "task.answered" and args[2]["answer"] == "已安排补发"
    assert kwargs == {"conversation_id": world.conversation.pk}


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_time_out_each_order_once():
    """docs/decisions/040: the conditional update is the confirmation-timeout claim; only the
    winner writes the change-log entry (SQLite here; test_races_postgres.py runs it on PostgreSQL)."""
    import threading

    from django.db import connection

    from .conftest import World

    world = World()
    orders = [_paid(world, at=DAYTIME) for _ in range(30)]
    assert order_services.run_confirmation_sweep(now=DAYTIME)["asked"] == 30
    later = DAYTIME + dt.timedelta(minutes=121)
    barrier = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(order_services.run_confirmation_sweep(now=later, batch=1000))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r["timed_out"] for r in results) == 30
    for order in orders:
        assert order.changes.filter(kind="confirm_timeout").count() == 1
        order.refresh_from_db()
        assert order.status == OrderStatus.CONFIRMED and order.confirm_state == ConfirmState.TIMEOUT
