"""The leave-a-message form while no seat is online (docs/decisions/125-leave-a-message.md):
the session says whether anyone is online; the form's submit is a queued conversation with the
shopper's message, the contact on their profile; bad input is a clear 4xx in Chinese."""

from __future__ import annotations

import json
import re

import pytest
from django.core.cache import cache
from django.test import Client

from xiaoer.accounts.models import Role
from xiaoer.chat import hub, services
from xiaoer.chat.models import Conversation, Message
from xiaoer.customers.models import Customer
from xiaoer.testing import client_for, make_seat, make_shop, make_staff, mark_present_for_tests

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    cache.clear()


def start(client: Client, shop) -> dict:
    res = client.post(f"/s/{shop.slug}/chat/session", data="{}", content_type="application/json")
    assert res.status_code == 200
    return res.json()


def leave(client: Client, shop, token: str, **body):
    return client.post(f"/s/{shop.slug}/chat/leave-message", data=json.dumps(body),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_nobody_online_the_form_queues_the_message_and_keeps_the_contact(django_capture_on_commit_callbacks):
    shop = make_shop()
    agent = make_staff(shop)
    make_seat(shop, operator=agent, present=False)  # a seat, but nobody at a workbench
    client = Client()
    session = start(client, shop)
    assert session["staffed"] is False and session["status"] == "visitor"
    with django_capture_on_commit_callbacks(execute=True):  # the first-message listener, after commit
        res = leave(client, shop, session["token"], body="  我想问一下发货时间  ", contact="138 0013 8000",
                    client_id="leave-1")
    assert res.status_code == 201, res.content
    data = res.json()
    assert data["message"]["body"] == "我想问一下发货时间" and data["contact"] == "phone" and data["staffed"] is False
    conv = Conversation.objects.get(pk=session["conversation"])
    assert conv.status == "queued" and conv.seat_id is None
    msg = Message.objects.get(conversation=conv)
    assert (msg.sender_kind, msg.kind, msg.body) == ("shopper", "text", "我想问一下发货时间")
    assert msg.payload == {"left_message": True, "contact": "phone"}
    assert Customer.objects.get(pk=conv.customer_id).phone == "13800138000"
    # the workbench's queue lists it with its text; the agent sees the phone masked, the owner whole
    waiting = client_for(agent).get("/api/chat/conversations?tab=waiting").json()
    assert [(c["id"], c["last_message_preview"]) for c in waiting] == [(conv.pk, "我想问一下发货时间")]
    panel = client_for(agent).get(f"/desk/c/{conv.pk}/panel/customer").content.decode()
    assert "138****8000" in panel and "13800138000" not in panel
    # an agent coming online gets it routed as usual
    mark_present_for_tests(agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.presence_changed(agent, present=True)
    conv.refresh_from_db()
    assert conv.status == "open" and conv.seat.operator_id == agent.pk


def test_a_wechat_id_goes_on_the_profile_and_the_retry_is_the_same_message(django_capture_on_commit_callbacks):
    shop = make_shop()
    client = Client()
    session = start(client, shop)
    for _ in range(2):  # a retry with the same client_id stores nothing new
        with django_capture_on_commit_callbacks(execute=True):
            res = leave(client, shop, session["token"], body="有货吗", contact="xiaoer_shop-88", client_id="c-1")
        assert res.status_code == 201 and res.json()["contact"] == "wechat"
    conv = Conversation.objects.get(pk=session["conversation"])
    assert Message.objects.filter(conversation=conv).count() == 1
    assert Customer.objects.get(pk=conv.customer_id).wechat == "xiaoer_shop-88"
    owner = make_staff(shop, role=Role.OWNER)
    assert "xiaoer_shop-88" in client_for(owner).get(f"/desk/c/{conv.pk}/panel/customer").content.decode()


@pytest.mark.parametrize(("body", "status", "detail"), [
    ({"body": "   "}, 400, "请填写留言内容"),
    ({"body": "字" * 1001}, 400, "留言最多 1000 个字"),
    ({"body": "你好", "contact": "12345"}, 400, "请填写正确的手机号或微信号"),
    ({"body": "你好", "contact": "<script>alert(1)</script>"}, 400, "请填写正确的手机号或微信号"),
    ({"body": "你好", "contact": "1" * 41}, 400, "联系方式太长了"),
    ({"body": ["not", "text"]}, 400, "请填写留言内容"),
    ({"body": "你好", "client_id": "sys:forged"}, 400, "请求无效"),
])
def test_bad_input_is_a_clear_4xx_in_chinese(body, status, detail):
    shop = make_shop()
    client = Client()
    session = start(client, shop)
    res = leave(client, shop, session["token"], **body)
    assert res.status_code == status and detail in res.json()["detail"]
    assert not Message.objects.filter(conversation_id=session["conversation"]).exists()
    assert Conversation.objects.get(pk=session["conversation"]).status == "visitor"


def test_no_token_another_shops_token_cross_site_and_flooding_are_refused(settings):
    shop, other = make_shop(), make_shop()
    client = Client()
    session = start(client, shop)
    url = f"/s/{shop.slug}/chat/leave-message"
    assert client.post(url, data='{"body": "hi"}', content_type="application/json").status_code == 401
    theirs = start(Client(), other)
    assert leave(client, shop, theirs["token"], body="hi").status_code == 401
    res = client.post(url, data='{"body": "hi"}', content_type="application/json",
                      HTTP_AUTHORIZATION=f"Bearer {session['token']}", HTTP_SEC_FETCH_SITE="cross-site")
    assert res.status_code == 403 and "聊天页面" in res.json()["detail"]
    res = client.post(url, data=json.dumps({"body": "x" * 20000}), content_type="application/json",
                      HTTP_AUTHORIZATION=f"Bearer {session['token']}")
    assert res.status_code == 413
    settings.CHAT_SHOPPER_LEAVE_MESSAGES_PER_MINUTE = 2
    codes = [leave(client, shop, session["token"], body=f"第{i}条").status_code for i in range(3)]
    assert codes == [201, 201, 429]
    assert "太频繁" in leave(client, shop, session["token"], body="又一条").json()["detail"]


def test_someone_online_means_no_form_and_the_page_is_told_when_that_changes(monkeypatch,
                                                                            django_capture_on_commit_callbacks):
    shop = make_shop()
    agent = make_staff(shop)
    seat = make_seat(shop, operator=agent)  # present and available
    client = Client()
    assert start(client, shop)["staffed"] is True
    page = client.get(f"/s/{shop.slug}/chat").content.decode()
    assert f"/s/{shop.slug}/chat/leave-message" in page and "客服暂时不在线" in page  # the form, hidden
    told = []
    monkeypatch.setattr(hub, "publish_to_shoppers", lambda shop_id, event, data: told.append((shop_id, event, data)))
    with django_capture_on_commit_callbacks(execute=True):
        services.do_set_seat_online(agent, seat, False)  # 挂起: nobody takes shoppers any more
    assert told == [(shop.pk, "staffed", {"staffed": False})]
    assert start(client, shop)["staffed"] is False


def test_the_form_and_its_errors_in_english(settings):
    shop = make_shop()
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(f"/s/{shop.slug}/chat").content.decode()
    box = page[page.index('id="leave-box"'):page.index('id="composer"')]
    assert "No one is online right now" in box and "Send message" in box and "Message received" in box
    assert not re.search(r"[\u4e00-\u9fff]", box), box
    labels = json.loads(page[page.index('id="shopper-config"'):].split(">", 1)[1].split("</script>")[0])["labels"]
    assert labels["offlineSeat"] == "No one is online right now; leave us a message"
    session = start(client, shop)
    res = leave(client, shop, session["token"], body="hi", contact="12345")
    assert res.status_code == 400 and res.json()["detail"].startswith("Please enter a valid mobile number")
