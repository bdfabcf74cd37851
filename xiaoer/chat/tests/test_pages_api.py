"""The chat and accounts JSON API through HTTP: lists, history pages, actions, roles."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from xiaoer.accounts.models import Role
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of, shopper_arrives

pytestmark = pytest.mark.django_db


def login(staff) -> Client:
    client = Client(enforce_csrf_checks=False)
    assert client.login(username=staff.user.username, password=PASSWORD)
    return client


def post(client: Client, url: str, data: dict | None = None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


@pytest.fixture
def desk():
    shop = make_shop()
    alice = make_staff(shop, display_name="李娜")
    bob = make_staff(shop, display_name="王强")
    seat_a = make_seat(shop, "小美", operator=alice)
    seat_b = make_seat(shop, "阿杰", operator=bob, online=False)
    conv = shopper_arrives(shop).conversation
    for i in range(5):
        writer.post_message_sync(conv.pk, sender_kind="shopper", body=f"问题{i}")
    return {"shop": shop, "alice": alice, "bob": bob, "seat_a": seat_a, "seat_b": seat_b, "conv": conv}


def test_list_detail_and_messages_pages(desk):
    client = login(desk["alice"])
    mine = client.get("/api/chat/conversations?tab=mine").json()
    assert [c["id"] for c in mine] == [desk["conv"].pk]
    assert mine[0]["unread"] == 5 and mine[0]["last_message_preview"] == "问题4" and mine[0]["waiting_since"]
    assert client.get("/api/chat/conversations?tab=waiting").json() == []
    detail = client.get(f"/api/chat/conversations/{desk['conv'].pk}").json()
    assert detail["seat"]["display_name"] == "小美" and detail["queue_position"] == 0
    page = client.get(f"/api/chat/conversations/{desk['conv'].pk}/messages?limit=2").json()
    assert [m["body"] for m in page["messages"]] == ["问题3", "问题4"] and page["more"]
    older = client.get(f"/api/chat/conversations/{desk['conv'].pk}/messages?limit=10&before=4").json()
    assert [m["body"] for m in older["messages"]] == ["问题0", "问题1", "问题2"] and not older["more"]


def test_post_message_note_and_bad_input(desk):
    client = login(desk["alice"])
    url = f"/api/chat/conversations/{desk['conv'].pk}/messages"
    sent = post(client, url, {"body": "亲，有货的", "client_id": "c-1"}).json()
    again = post(client, url, {"body": "亲，有货的", "client_id": "c-1"}).json()
    assert sent["id"] == again["id"] and sent["seat"]["display_name"] == "小美"
    note = post(client, url, {"body": "内部：顾客很急", "kind": "note"}).json()
    assert note["internal"] is True
    assert post(client, url, {"body": "  "}).status_code == 400
    assert post(client, url, {"body": "长" * 5001}).status_code == 400
    assert post(client, url, {"kind": "image", "payload": {"attachment": "nope"}}).status_code == 404


def test_transfer_resolve_reopen_claim_over_api(desk):
    alice, conv = login(desk["alice"]), desk["conv"]
    res = post(alice, f"/api/chat/conversations/{conv.pk}/transfer", {"seat": desk["seat_b"].pk, "note": "请跟进"})
    assert res.status_code == 200 and res.json()["seat"]["display_name"] == "阿杰"
    # now it belongs to bob's seat: alice can no longer act on it
    assert post(alice, f"/api/chat/conversations/{conv.pk}/resolve").status_code == 403
    bob = login(desk["bob"])
    assert post(bob, f"/api/chat/conversations/{conv.pk}/resolve").json()["status"] == "resolved"
    assert post(bob, f"/api/chat/conversations/{conv.pk}/reopen").json()["status"] == "open"
    messages = bob.get(f"/api/chat/conversations/{conv.pk}/messages?limit=50").json()["messages"]
    assert any(m["kind"] == "event" and "请跟进" in m["body"] and m["internal"] for m in messages)
    assert post(bob, f"/api/chat/conversations/{conv.pk}/claim").status_code == 400  # not queued


def test_reassign_needs_a_supervisor(desk):
    conv = desk["conv"]
    url = f"/api/chat/conversations/{conv.pk}/reassign"
    assert post(login(desk["alice"]), url, {"seat": desk["seat_b"].pk}).status_code == 403
    lead = make_staff(desk["shop"], Role.SUPERVISOR)
    assert post(login(lead), url, {"seat": desk["seat_b"].pk}).json()["seat"]["id"] == desk["seat_b"].pk


def test_notes_seats_online_and_queue(desk):
    alice = login(desk["alice"])
    conv = desk["conv"]
    note = post(alice, f"/api/chat/conversations/{conv.pk}/notes", {"text": "喜欢蓝色"}).json()
    assert note["seat"]["display_name"] == "小美" and note["author"]["display_name"] == "李娜"
    assert [n["text"] for n in alice.get(f"/api/chat/conversations/{conv.pk}/notes").json()] == ["喜欢蓝色"]
    seats = {s["display_name"]: s for s in alice.get("/api/chat/seats").json()}
    assert seats["小美"]["open"] == 1 and seats["小美"]["online"] and not seats["阿杰"]["online"]
    assert post(alice, f"/api/chat/seats/{desk['seat_b'].pk}/online", {"online": True}).status_code == 403
    bob = login(desk["bob"])
    assert post(bob, f"/api/chat/seats/{desk['seat_b'].pk}/online", {"online": True}).json()["online"] is True
    assert alice.get("/api/chat/queue").json() == []


def test_accounts_api_handover_and_history(desk):
    lead = login(make_staff(desk["shop"], Role.SUPERVISOR, display_name="周主管"))
    me = lead.get("/api/accounts/me").json()
    assert me["role"] == "supervisor" and me["shop"]["id"] == desk["shop"].pk
    seat = desk["seat_a"]
    res = post(lead, f"/api/accounts/seats/{seat.pk}/assign", {"staff": desk["bob"].pk})
    assert res.json()["operator"]["display_name"] == "王强"
    history = lead.get(f"/api/accounts/seats/{seat.pk}/history").json()
    assert [h["staff"]["display_name"] for h in history] == ["王强", "李娜"]
    assert history[0]["assigned_by"] == "周主管" and history[1]["ended_at"]
    # the conversation stays with the seat, now in bob's "mine"
    assert [c["id"] for c in login(desk["bob"]).get("/api/chat/conversations?tab=mine").json()] == [desk["conv"].pk]
    assert post(login(desk["alice"]), f"/api/accounts/seats/{seat.pk}/assign", {"staff": None}).status_code == 403


def test_buyer_link_issued_by_supervisor_opens_the_chat(desk):
    owner = login(owner_of(desk["shop"]))
    res = post(owner, "/api/chat/buyer-links", {"buyer_id": "tb_carol", "name": "Carol"})
    path = res.json()["path"]
    assert path.startswith(f"/s/{desk['shop'].slug}/chat?buyer=")
    from urllib.parse import parse_qs, urlparse

    signature = parse_qs(urlparse(path).query)["buyer"][0]
    session = Client().post(f"/s/{desk['shop'].slug}/chat/session", json.dumps({"buyer": signature}),
                            content_type="application/json").json()
    assert session["customer"]["name"] == "Carol" and session["visitor"] == ""
    assert Conversation.objects.get(pk=session["conversation"]).customer.buyer_id == "tb_carol"
    assert post(login(desk["alice"]), "/api/chat/buyer-links", {"buyer_id": "x"}).status_code == 403


def test_api_needs_login_and_csrf(desk):
    assert Client().get("/api/chat/conversations").status_code == 401
    client = Client(enforce_csrf_checks=True)
    client.login(username=desk["alice"].user.username, password=PASSWORD)
    res = post(client, f"/api/chat/conversations/{desk['conv'].pk}/resolve")
    assert res.status_code == 403
    assert Conversation.objects.get(pk=desk["conv"].pk).status == "open"
