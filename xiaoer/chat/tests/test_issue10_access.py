"""Issue 10: one access rule for the socket, the REST API and order actions (HTTP paths here;
the socket paths in test_issue10_protocol.py)."""

from __future__ import annotations

import json

import pytest

from xiaoer.chat.models import Message
from xiaoer.chat.tests.chatkit import two_seats_scene
from xiaoer.knowledge.models import QuickPhrase
from xiaoer.testing import client_for, make_shop, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_seats():
    return two_seats_scene()


def _post(client, conv_id: int, **body):
    return client.post(f"/api/chat/conversations/{conv_id}/messages", json.dumps(body),
                       content_type="application/json")


def test_rest_post_refuses_another_seats_conversation_like_the_socket(two_seats):
    shop, me, _my_seat, _other_seat, mine, theirs = two_seats
    client = client_for(me)
    for kind in ("text", "note"):
        res = _post(client, theirs.pk, body="插话", kind=kind)
        assert res.status_code == 403
        assert "不是你的客服账号在接待" in res.json()["detail"]
    assert not Message.objects.filter(conversation=theirs).exists()
    assert _post(client, mine.pk, body="亲，在的").status_code == 200
    owner = client_for(owner_of(shop))
    assert _post(owner, theirs.pk, body="主管来了").status_code == 200


def test_rest_post_refuses_bad_client_ids_with_400_not_500(two_seats):
    _shop, me, _my_seat, _other_seat, mine, _theirs = two_seats
    client = client_for(me)
    for client_id in ("sys:reminder-7", "x" * 65, ""):
        res = _post(client, mine.pk, body="你好", client_id=client_id) if client_id else None
        if res is not None:
            assert res.status_code == 400, client_id
    first = _post(client, mine.pk, body="你好", client_id="c" * 64)
    assert first.status_code == 200 and first.json()["client_id"] == "c" * 64
    assert _post(client, mine.pk, body="你好", client_id="c" * 64).json()["id"] == first.json()["id"]
    from xiaoer.chat import writer

    writer.post_message_sync(mine.pk, sender_kind="shopper", body="顾客", client_id="shopper-1",
                             clients_id=True)
    assert _post(client, mine.pk, body="抢", client_id="shopper-1").status_code == 400
    assert Message.objects.filter(conversation=mine, client_id__startswith="sys:").count() == 0


def test_an_agent_cannot_read_another_seats_private_phrases(two_seats):
    shop, me, my_seat, other_seat, _mine, _theirs = two_seats
    QuickPhrase.objects.create(shop=shop, seat=other_seat, shortcut="mm", text="小美的私房话")
    QuickPhrase.objects.create(shop=shop, seat=my_seat, shortcut="wd", text="我的短语")
    client = client_for(me)
    assert client.get(f"/api/knowledge/phrases?seat_id={other_seat.pk}").status_code == 403
    mine = client.get(f"/api/knowledge/phrases?seat_id={my_seat.pk}")
    assert mine.status_code == 200 and [p["text"] for p in mine.json()] == ["我的短语"]
    owner = client_for(owner_of(shop))
    assert [p["text"] for p in owner.get(f"/api/knowledge/phrases?seat_id={other_seat.pk}").json()] == \
        ["小美的私房话"]


def test_shopper_session_refuses_cross_site_posts_and_rotates_the_visitor_token():
    """Session fixation: another site's text/plain form post can't plant its visitor identity."""
    from django.test import Client

    from xiaoer.chat import services

    shop = make_shop()
    attacker = Client().post(f"/s/{shop.slug}/chat/session", "{}", content_type="application/json").json()
    url = f"/s/{shop.slug}/chat/session"
    victim = Client()
    for headers in ({"HTTP_ORIGIN": "http://evil.example"}, {"HTTP_SEC_FETCH_SITE": "cross-site"},
                    {"HTTP_ORIGIN": "null"}):
        res = victim.post(url, json.dumps({"visitor": attacker["visitor"]}), content_type="text/plain",
                          **headers)
        assert res.status_code == 403 and not res.cookies
    # the shop's own page (same origin) works, and every start rotates the token, same visitor
    res = victim.post(url, "{}", content_type="application/json", HTTP_ORIGIN="http://testserver",
                      HTTP_SEC_FETCH_SITE="same-origin")
    first = res.json()
    again = victim.post(url, "{}", content_type="application/json", HTTP_SEC_FETCH_SITE="same-origin").json()
    assert first["conversation"] == again["conversation"] != attacker["conversation"]
    assert first["visitor"] != again["visitor"]
    assert services.check_visitor_token(shop, first["visitor"]) == services.check_visitor_token(shop, again["visitor"])
