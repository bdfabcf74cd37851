"""A seat's greeting: sent once as the seat when a conversation first gets it, variables filled
(issue 10, docs/decisions/120-seat-greeting-and-phrase-groups.md)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from xiaoer.accounts.models import Role
from xiaoer.chat import services, writer
from xiaoer.chat.models import Message
from xiaoer.events.testing import deliver_all
from xiaoer.testing import make_seat, make_shop, make_staff, shopper_arrives

pytestmark = pytest.mark.django_db


def greetings(conv) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conv.pk, payload__greeting=True))


def greeted_shop(text: str = "{顾客}您好，我是{客服}，有什么可以帮您？"):
    shop = make_shop()
    boss = make_staff(shop, Role.SUPERVISOR)
    seat = make_seat(shop, "小美", operator=make_staff(shop))
    services.do_set_seat_greeting(boss, seat, text)
    seat.refresh_from_db()
    return shop, boss, seat


def test_a_routed_conversation_gets_the_seats_greeting_once_with_variables_filled():
    shop, _boss, seat = greeted_shop()
    conv = shopper_arrives(shop).conversation
    conv.customer.name = "张三"
    conv.customer.save(update_fields=["name"])
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="在吗")
    deliver_all()
    deliver_all(retry_now=True)  # the event seen again (at least once) stores nothing more
    (greeting,) = greetings(conv)
    assert greeting.body == "张三您好，我是小美，有什么可以帮您？"
    assert (greeting.sender_kind, greeting.seat_id, greeting.internal) == ("agent", seat.pk, False)
    conv.refresh_from_db()
    assert conv.waiting_since is not None  # a greeting answers nothing: the shopper still waits (已等)


def test_the_listener_called_twice_stores_one_greeting():
    shop, _boss, _seat = greeted_shop("您好")
    conv = shopper_arrives(shop).conversation
    deliver_all()
    from xiaoer.chat.events import ConversationAssigned

    services.greet_on_assign(ConversationAssigned(shop_id=shop.pk, conversation_id=conv.pk,
                                                  seat_id=conv.seat_id, how="route"))
    assert len(greetings(conv)) == 1


def test_an_unknown_customer_is_greeted_with_the_placeholder():
    shop, _boss, _seat = greeted_shop("{顾客}您好")
    conv = shopper_arrives(shop).conversation
    deliver_all()
    assert [m.body for m in greetings(conv)] == ["亲您好"]


def test_a_seat_without_greeting_sends_nothing():
    shop = make_shop()
    make_seat(shop, "小美", operator=make_staff(shop))
    conv = shopper_arrives(shop).conversation
    deliver_all()
    assert greetings(conv) == []
    assert not Message.objects.filter(conversation_id=conv.pk, sender_kind="agent").exists()


def test_a_transfer_or_a_second_assignment_does_not_greet_again(django_capture_on_commit_callbacks):
    shop, boss, seat = greeted_shop("我是{客服}")
    other = make_seat(shop, "小雪", operator=make_staff(shop))
    other.refresh_from_db()
    services.do_set_seat_greeting(boss, other, "我是{客服}，接着为您服务")
    conv = shopper_arrives(shop).conversation
    deliver_all()
    services.do_transfer(seat.operator, conv, other)
    deliver_all()
    conv.refresh_from_db()
    services.do_resolve(other.operator, conv)
    with django_capture_on_commit_callbacks(execute=True):  # the shopper writes again: queued, routed again
        writer.post_message_sync(conv.pk, sender_kind="shopper", body="我又来了")
    deliver_all()
    conv.refresh_from_db()
    assert conv.status == "open" and conv.seat_id is not None  # served again, by a seat with a greeting
    assert [m.body for m in greetings(conv)] == ["我是小美"]


def test_the_greeting_is_checked_and_only_a_supervisor_sets_it():
    shop, boss, seat = greeted_shop()
    with pytest.raises(ValidationError):
        services.do_set_seat_greeting(boss, seat, "x" * (services.GREETING_MAX_CHARS + 1))
    with pytest.raises(ValidationError):  # no order is known when a conversation opens
        services.do_set_seat_greeting(boss, seat, "您的订单{订单号}")
    with pytest.raises(ValidationError):
        services.do_set_seat_greeting(boss, seat, "您好{顾客名}")
    with pytest.raises(PermissionDenied):
        services.do_set_seat_greeting(seat.operator, seat, "您好")
    other_shop_boss = make_staff(make_shop(), Role.SUPERVISOR)
    from django.http import Http404

    with pytest.raises(Http404):
        services.do_set_seat_greeting(other_shop_boss, seat, "您好")
    services.do_set_seat_greeting(boss, seat, "  ")
    seat.refresh_from_db()
    assert seat.greeting == ""


def test_the_supervisor_page_sets_the_greeting_and_shows_it_escaped(client):
    shop, boss, seat = greeted_shop()
    client.force_login(boss.user)
    hostile = '<script>alert(1)</script>{客服}'
    response = client.post("/desk/supervisor", {"action": "greeting", "seat": seat.pk, "greeting": hostile})
    assert response.status_code == 302
    seat.refresh_from_db()
    assert seat.greeting == hostile
    page = client.get("/desk/supervisor").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;{客服}" in page
    conv = shopper_arrives(shop).conversation
    deliver_all()
    # stored as text; the pages render message bodies as text (textContent), never as markup
    assert [m.body for m in greetings(conv)] == ["<script>alert(1)</script>小美"]
    agent = make_staff(shop)
    client.force_login(agent.user)
    assert client.post("/desk/supervisor", {"action": "greeting", "seat": seat.pk, "greeting": "x"}).status_code == 403


def test_the_supervisor_page_refuses_a_bad_greeting_in_chinese(client):
    _shop, boss, seat = greeted_shop()
    client.force_login(boss.user)
    response = client.post("/desk/supervisor", {"action": "greeting", "seat": seat.pk, "greeting": "{订单号}"})
    assert response.status_code == 400
    assert "开场白只能使用变量" in response.content.decode()


def test_the_api_sets_the_greeting_for_supervisors_of_the_shop_only():
    from xiaoer.testing import client_for

    shop, boss, seat = greeted_shop("您好")
    api = client_for(boss)
    url = f"/api/chat/seats/{seat.pk}/greeting"
    res = api.put(url, {"greeting": " {顾客}好，我是{客服} "}, content_type="application/json")
    assert res.status_code == 200 and res.json() == {"id": seat.pk, "greeting": "{顾客}好，我是{客服}"}
    listed = {row["id"]: row["greeting"] for row in api.get("/api/chat/seats").json()}
    assert listed[seat.pk] == "{顾客}好，我是{客服}"
    res = api.put(url, {"greeting": "您的订单{订单号}"}, content_type="application/json")
    assert res.status_code == 400 and "开场白只能使用变量" in str(res.json()["detail"])
    res = api.put(url, {"greeting": "x" * 501}, content_type="application/json")
    assert res.status_code == 400
    agent = client_for(make_staff(shop))
    assert agent.put(url, {"greeting": "x"}, content_type="application/json").status_code == 403
    stranger = client_for(make_staff(make_shop(), Role.SUPERVISOR))
    assert stranger.put(url, {"greeting": "x"}, content_type="application/json").status_code == 404
    seat.refresh_from_db()
    assert seat.greeting == "{顾客}好，我是{客服}"


def test_the_greeting_form_and_its_errors_in_english(client, settings):
    _shop, boss, seat = greeted_shop()
    client.force_login(boss.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/desk/supervisor").content.decode()
    assert "Greeting of 小美" in page and "开场白" not in page
    response = client.post("/desk/supervisor", {"action": "greeting", "seat": seat.pk, "greeting": "{订单号}"})
    assert "may only use the variables" in response.content.decode()


def test_no_greeting_once_the_shopper_was_already_answered():
    """An agent who claims a queued conversation and types at once is not followed by a greeting."""
    shop, _boss, seat = greeted_shop("您好，我是{客服}")
    services.do_set_seat_online(seat.operator, seat, False)
    conv = shopper_arrives(shop).conversation
    assert conv.seat_id is None  # queued: nobody takes shoppers
    services.do_claim(seat.operator, conv, seat)
    writer.post_message_sync(conv.pk, sender_kind="agent", body="亲，我来了", seat_id=seat.pk,
                             staff_id=seat.operator_id)
    deliver_all()
    assert greetings(conv) == []
