"""Pages: login and its throttling, roles, the workbench, side panel, supervisor, shopper page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from xiaoer.accounts.models import LoginFailure, Role, SeatAssignment
from xiaoer.chat import services, writer
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import CustomerNote
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of, shopper_arrives

pytestmark = pytest.mark.django_db
XSS = '<img src=x onerror=alert(1)><script>alert(2)</script>'


def login(staff) -> Client:
    client = Client()
    assert client.login(username=staff.user.username, password=PASSWORD)
    return client


def post_login(client: Client, username: str, password: str):
    return client.post("/desk/login", {"username": username, "password": password})


# --- login ----------------------------------------------------------------------------------------

def test_login_then_logout():
    shop = make_shop()
    client = Client()
    res = post_login(client, owner_of(shop).user.username, PASSWORD)
    assert res.status_code == 302 and res["Location"] == "/desk"
    desk = client.get("/desk")
    assert desk.status_code == 200 and 'id="desk-config"' in desk.content.decode()  # the workbench itself
    assert client.post("/desk/logout").status_code == 302
    assert client.get("/desk")["Location"].startswith("/desk/login")


def test_wrong_password_gives_a_clear_error():
    shop = make_shop()
    res = post_login(Client(), owner_of(shop).user.username, "wrong-password")
    assert res.status_code == 401 and "用户名或密码不正确" in res.content.decode()


def test_login_is_throttled_after_repeated_failures(settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_SECONDS = 300
    shop = make_shop()
    username = owner_of(shop).user.username
    client = Client()
    for _ in range(3):
        assert post_login(client, username, "nope-nope").status_code == 401
    locked = post_login(client, username, PASSWORD)  # even the right password waits
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.content.decode() and "5 分钟" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # another username from the same address is not locked
    other = make_staff(shop)
    assert post_login(Client(), other.user.username, PASSWORD).status_code == 302
    # once the window has passed, the right password works and clears the failures
    LoginFailure.objects.filter(username=username).update(at=timezone.now() - timedelta(seconds=301))
    assert post_login(client, username, PASSWORD).status_code == 302
    assert not LoginFailure.objects.filter(username=username).exists()


def test_login_refuses_offsite_next():
    shop = make_shop()
    res = Client().post("/desk/login?next=https://evil.example/", {
        "username": owner_of(shop).user.username, "password": PASSWORD})
    assert res["Location"] == "/desk"


# --- roles ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.WAREHOUSE, Role.AFTERSALES])
def test_warehouse_and_aftersales_log_in_but_cannot_read_chats(role):
    shop = make_shop()
    make_seat(shop, operator=make_staff(shop))
    conv = shopper_arrives(shop).conversation
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="机密聊天内容")
    client = login(make_staff(shop, role))
    home = client.get("/desk", follow=True)
    assert home.redirect_chain[-1][0] == "/desk/tasks"  # they land on their task queue
    assert home.status_code == 200 and "内部任务" in home.content.decode()
    assert "机密聊天内容" not in home.content.decode()
    for url in (f"/desk/c/{conv.pk}", f"/desk/c/{conv.pk}/panels/", f"/desk/c/{conv.pk}/panel/customer",
                "/desk/supervisor", "/api/chat/conversations", f"/api/chat/conversations/{conv.pk}/messages"):
        res = client.get(url)
        assert res.status_code == 403, url
        assert "机密聊天内容" not in res.content.decode()


def test_agent_cannot_open_supervisor_view():
    shop = make_shop()
    assert login(make_staff(shop)).get("/desk/supervisor").status_code == 403


def test_anonymous_is_sent_to_login():
    res = Client().get("/desk")
    assert res.status_code == 302 and res["Location"].startswith("/desk/login")


# --- workbench ------------------------------------------------------------------------------------

def test_workbench_renders_with_config_and_htmx():
    shop = make_shop()
    agent = make_staff(shop, display_name="李娜")
    make_seat(shop, "小美", operator=agent)
    res = login(agent).get("/desk")
    html = res.content.decode()
    assert res.status_code == 200
    assert "htmx" in html and "chat/desk.js" in html
    assert 'id="desk-config"' in html and "小美" in html
    config = json.loads(html.split('id="desk-config" type="application/json">')[1].split("</script>")[0])
    assert config["mySeats"][0]["display_name"] == "小美"
    assert config["labels"]["internal"] == "仅客服可见"


def test_side_panels_skip_names_that_do_not_resolve(settings):
    settings.XIAOER_SIDE_PANELS = [("顾客", "desk-panel-customer"), ("不存在", "no-such-panel")]
    shop = make_shop()
    agent = make_staff(shop)
    make_seat(shop, operator=agent)
    conv = shopper_arrives(shop).conversation
    html = login(agent).get(f"/desk/c/{conv.pk}/panels/").content.decode()
    assert f'hx-get="/desk/c/{conv.pk}/panel/customer"' in html and "不存在" not in html


def test_customer_panel_shows_profile_and_notes_with_seat_and_author_and_escapes():
    shop = make_shop()
    agent = make_staff(shop, display_name="李娜")
    seat = make_seat(shop, "小美", operator=agent)
    session = services.start_shopper_session(shop, buyer_signature=services.make_buyer_signature(
        shop, "tb_<b>eve</b>", name=XSS))
    client = login(agent)
    url = f"/desk/c/{session.conversation.pk}/panel/customer"
    res = client.post(url, {"text": f"备注 {XSS}"})
    html = res.content.decode()
    assert res.status_code == 200
    assert "<script>alert(2)</script>" not in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;b&gt;eve&lt;/b&gt;" in html
    note = CustomerNote.objects.get(customer=session.customer)
    assert note.seat == seat and note.author == agent and note.shop == shop
    assert "小美" in html and "李娜" in html
    assert "不能为空" in client.post(url, {"text": "  "}).content.decode()


def test_a_note_is_written_through_the_authors_active_seat_never_a_deactivated_one():
    """Regression: the panel took the author's first seat, active or not (the API took active ones)."""
    shop = make_shop()
    agent = make_staff(shop)
    retired = make_seat(shop, "旧号", operator=agent)
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    current = make_seat(shop, "新号", operator=agent)
    colleague_seat = make_seat(shop, "同事", operator=make_staff(shop))
    conversation = services.start_shopper_session(shop).conversation
    Conversation.objects.filter(pk=conversation.pk).update(seat=colleague_seat)  # not the agent's seat
    login(agent).post(f"/desk/c/{conversation.pk}/panel/customer", {"text": "老顾客"})
    res = login(agent).post(f"/api/chat/conversations/{conversation.pk}/notes", {"text": "再来"},
                            content_type="application/json")
    assert res.status_code == 200
    assert [n.seat for n in CustomerNote.objects.filter(customer=conversation.customer).order_by("pk")] \
        == [current, current]


def test_supervisor_view_shows_load_queue_and_hands_over_a_seat():
    shop = make_shop()
    lead = make_staff(shop, Role.SUPERVISOR, display_name="周主管")
    alice, bob = make_staff(shop, display_name="李娜"), make_staff(shop, display_name="王强")
    seat = make_seat(shop, "小美", operator=alice, max_concurrent=1)
    shopper_arrives(shop)
    queued = shopper_arrives(shop).conversation
    client = login(lead)
    html = client.get("/desk/supervisor").content.decode()
    assert "小美" in html and "1 / 1" in html and "排队中的顾客" in html and "李娜" in html
    assert queued.customer.display_name in html

    res = client.post("/desk/supervisor", {"action": "handover", "seat": seat.pk, "staff": bob.pk})
    assert res.status_code == 302
    seat.refresh_from_db()
    assert seat.operator == bob
    assert SeatAssignment.objects.filter(seat=seat).count() == 2
    html = client.get("/desk/supervisor").content.decode()
    assert "王强" in html and "周主管" in html  # the history says who handed it over

    res = client.post("/desk/supervisor", {"action": "reassign", "conversation": queued.pk, "seat": seat.pk})
    assert res.status_code == 302
    queued.refresh_from_db()
    assert queued.seat == seat


# --- shopper side ---------------------------------------------------------------------------------

def test_shopper_page_and_widget():
    shop = make_shop(name="小二的店")
    res = Client().get(f"/s/{shop.slug}/chat")
    assert res.status_code == 200 and "小二的店" in res.content.decode()
    assert "X-Frame-Options" not in res  # embeddable in the shop's own site
    widget = Client().get(f"/s/{shop.slug}/widget.js")
    assert widget.status_code == 200 and widget["Content-Type"].startswith("text/javascript")
    assert f"/s/{shop.slug}/chat?embed=1" in widget.content.decode()
    assert Client().get("/s/no-such-shop/chat").status_code == 404


def test_session_start_keeps_identity_by_body_or_cookie():
    shop = make_shop()
    make_seat(shop, "小美", operator=make_staff(shop))
    client = Client()
    url = f"/s/{shop.slug}/chat/session"
    first = client.post(url, "{}", content_type="application/json").json()
    # opening the page is a visitor: no seat until the first message (issue 10)
    assert first["token"] and first["visitor"] and first["seat"] is None and first["status"] == "visitor"
    by_cookie = client.post(url, "{}", content_type="application/json").json()
    assert by_cookie["conversation"] == first["conversation"]
    by_body = Client().post(url, json.dumps({"visitor": first["visitor"]}), content_type="application/json")
    assert by_body.json()["conversation"] == first["conversation"]
    assert Client().post(url, "{}", content_type="application/json").json()["conversation"] != first["conversation"]


def test_session_start_with_bad_buyer_link_or_body_is_a_clear_error():
    shop = make_shop()
    url = f"/s/{shop.slug}/chat/session"
    res = Client().post(url, json.dumps({"buyer": "forged"}), content_type="application/json")
    assert res.status_code == 400 and "买家链接无效" in res.json()["detail"]
    assert Client().post(url, "not json", content_type="application/json").status_code == 400
    assert Client().post(url, "[1]", content_type="application/json").status_code == 400


def test_shopper_queue_position_in_session():
    shop = make_shop()
    make_seat(shop, operator=make_staff(shop), max_concurrent=1)
    url = f"/s/{shop.slug}/chat/session"
    first, second = Client(), Client()
    for client in (first, second):  # each opens the page and writes
        opened = client.post(url, "{}", content_type="application/json").json()
        assert opened["queue_position"] == 0
        services.reopen_for_shopper({opened["conversation"]})
    assert first.post(url, "{}", content_type="application/json").json()["queue_position"] == 0
    again = second.post(url, "{}", content_type="application/json").json()
    assert again["status"] == "queued" and again["queue_position"] == 1 and again["seat"] is None


def test_language_switch_to_english():
    client = Client()
    res = client.post("/i18n/setlang/", {"language": "en", "next": "/desk/login"})
    assert res.status_code == 302
    html = client.get("/desk/login").content.decode()
    assert 'lang="en"' in html and "Sign in" in html
