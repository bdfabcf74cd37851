"""Bad input found by schema fuzzing and by hand answers 4xx with a clear message, never 500
(issue 10, Security: server errors under fuzzing)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation
from xiaoer.testing import client_for, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db
HUGE = "9" * 30


@pytest.fixture
def owner():
    return client_for(owner_of(make_shop()))


@pytest.mark.parametrize(("kind", "content"), [("unknown", b"id,category\n"), ("answers", b"id,category\n"),
                                               ("products", "商品名称\r\n".encode("gbk"))])
def test_knowledge_import_unknown_kind_or_header_only(owner, kind, content):
    response = owner.post("/api/knowledge/import", {"kind": kind, "file": SimpleUploadedFile("kb.csv", content)})
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response.json()["detail"]


def test_knowledge_import_of_a_complete_header_without_rows_imports_nothing(owner):
    content = "商品编号,商品名称\r\n".encode("gbk")
    response = owner.post("/api/knowledge/import", {"kind": "products", "file": SimpleUploadedFile("p.csv", content)})
    assert response.status_code == 200 and response.json()["created"] == 0


def test_quiet_hours_with_a_time_zone(owner):
    response = owner.put("/api/orders/settings", {"quiet_start": "22:00:00+08:00"}, content_type="application/json")
    assert response.status_code == 422 and "time zone" in response.content.decode()
    response = owner.put("/api/orders/settings", {"quiet_start": "22:30"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["quiet_start"] == "22:30"


@pytest.mark.parametrize("url", ["/api/knowledge/products?offset=" + HUGE, "/api/knowledge/answers?offset=" + HUGE,
                                 "/api/knowledge/products?offset=9223372036854775807",
                                 "/api/orders/?customer_id=" + HUGE, "/api/chat/conversations/" + HUGE])
def test_huge_numbers(owner, url):
    response = owner.get(url)
    assert 400 <= response.status_code < 500 or (response.status_code == 200 and response.json() == []), \
        (response.status_code, response.content[:300])


def test_answer_with_every_field_empty(owner):
    empty = {"code": "", "category": "", "question": "", "similar": [], "answer": "", "product": ""}
    response = owner.post("/api/knowledge/answers", empty, content_type="application/json")
    assert response.status_code == 400 and "为空" in str(response.json()["detail"])
    form = owner.post("/desk/knowledge/answers/new", {k: "" for k in empty})
    assert form.status_code == 200 and "为空" in form.content.decode()


def test_phrase_form_with_a_seat_that_is_not_a_number(owner):
    response = owner.post("/desk/knowledge/phrases", {"shortcut": "hi", "text": "亲在的", "seat": "abc"})
    assert response.status_code == 200 and "客服账号“abc”不存在" in response.content.decode()
    response = owner.post("/desk/knowledge/phrases", {"shortcut": "hi", "text": "亲在的", "seat": HUGE})
    assert response.status_code == 200 and "不存在" in response.content.decode()


def test_rest_message_with_a_foreign_or_too_long_client_id():
    shop = make_shop()
    agent = make_staff(shop)
    seat = make_seat(shop, operator=agent)
    conv = chat_services.start_shopper_session(shop).conversation
    Conversation.objects.filter(pk=conv.pk).update(seat=seat, status="open")  # served by the agent's seat
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="你好", client_id="dup-1", clients_id=True)
    client = client_for(agent)
    url = f"/api/chat/conversations/{conv.pk}/messages"
    taken = client.post(url, {"body": "亲", "client_id": "dup-1"}, content_type="application/json")
    assert taken.status_code == 400 and "client_id" in str(taken.json()["detail"])
    long = client.post(url, {"body": "亲", "client_id": "x" * 65}, content_type="application/json")
    assert long.status_code == 400 and "client_id" in str(long.json()["detail"])
    ok = client.post(url, {"body": "亲", "client_id": "x" * 61}, content_type="application/json")
    assert ok.status_code == 200
