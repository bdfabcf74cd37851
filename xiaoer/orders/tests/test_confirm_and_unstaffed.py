"""Issue 10: the agent's 核对 sends the buyer the receiver and address; a task for a role nobody in
the shop holds warns when raised and a supervisor can take it."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from xiaoer.accounts.models import Role
from xiaoer.chat.models import Message
from xiaoer.notify import services as notify_services
from xiaoer.orders import services as order_services
from xiaoer.orders.models import ConfirmState, OrderStatus, TaskKind, TaskStatus
from xiaoer.testing import PASSWORD, make_staff, owner_of

from .test_workflow import DAYTIME, _paid


def _system_texts(world) -> list[str]:
    return list(Message.objects.filter(conversation=world.conversation, sender_kind="system")
                .order_by("seq").values_list("body", flat=True))


def test_agent_asks_the_buyer_to_check_receiver_and_address_from_the_panel(world, client):
    order = _paid(world)
    client.login(username=world.agent.user.username, password=PASSWORD)
    panel = client.get(f"/desk/c/{world.conversation.pk}/orders").content.decode()
    assert "请顾客核对收货信息" in panel
    response = client.post(f"/desk/orders/{order.pk}/ask_confirm", {"conversation": world.conversation.pk})
    assert response.status_code == 200 and "再次发送核对信息" in response.content.decode()
    notify_services.deliver_due()
    [text] = _system_texts(world)
    assert order.order_no in text and "张三" in text and "上海市浦东新区某路 1 号" in text
    order.refresh_from_db()
    assert order.confirm_state == ConfirmState.ASKED and order.status == OrderStatus.PAID
    # the sweep does not ask a second time; asking again is the agent's own decision
    assert order_services.run_confirmation_sweep(now=DAYTIME)["asked"] == 0
    client.post(f"/desk/orders/{order.pk}/ask_confirm", {"conversation": world.conversation.pk})
    notify_services.deliver_due()
    assert len(_system_texts(world)) == 2
    client.post(f"/desk/orders/{order.pk}/confirm", {"conversation": world.conversation.pk})
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    assert client.post(f"/desk/orders/{order.pk}/ask_confirm",
                       {"conversation": world.conversation.pk}).status_code == 422


def test_task_for_a_role_nobody_holds_warns_and_the_supervisor_takes_it(world, client):
    world.aftersales.is_active = False
    world.aftersales.save(update_fields=["is_active"])
    client.login(username=world.agent.user.username, password=PASSWORD)
    response = client.post(f"/desk/c/{world.conversation.pk}/tasks",
                           {"kind": TaskKind.DAMAGED_PARCEL, "question": "外箱压坏了"})
    assert response.status_code == 200
    assert "店里还没有售后同事，这个任务由主管处理。" in response.content.decode()
    client.logout()

    supervisor = make_staff(world.shop, Role.SUPERVISOR)
    client.login(username=supervisor.user.username, password=PASSWORD)
    queue = client.get("/desk/tasks").content.decode()
    assert "外箱压坏了" in queue and "店里没有售后同事，请主管处理" in queue and 'name="answer"' in queue
    [task] = order_services.task_queue(supervisor)
    client.post(f"/desk/tasks/{task.pk}/answer", {"answer": "已安排补发"})
    task.refresh_from_db()
    assert task.status == TaskStatus.ANSWERED and task.answered_by == supervisor
    # a role someone holds stays theirs: neither an agent nor a supervisor answers it
    stock = order_services.do_raise_task(world.agent, kind=TaskKind.MISSING_ITEM, question="少一件")
    for other in (world.agent, owner_of(world.shop)):
        with pytest.raises(PermissionDenied):
            order_services.do_answer_task(other, stock, answer="x")
