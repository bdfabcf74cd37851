"""The returns API and pages: open from the conversation and the order, filters, steps, settings,
bad input refused, the side panel, overdue surfaced."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from xiaoer.aftersales.models import ReturnCase

from .returnkit import ReturnWorld


@pytest.fixture
def w(db) -> ReturnWorld:
    return ReturnWorld()


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_open_and_walk_a_case_through_the_api(w):
    order = w.order("80.00")
    agent = w.client(w.agent)
    res = post(agent, "/api/aftersales/cases", {"order_id": order.pk, "kind": "return_refund", "reason": "damaged",
                                                 "amount": "80", "conversation_id": w.conversation.pk,
                                                 "description": "<b>碎了</b>"})
    assert res.status_code == 200, res.content
    case = res.json()
    assert case["state"] == "requested" and case["postage_payer"] == "shop" and case["due_at"]
    url = f"/api/aftersales/cases/{case['id']}/steps"
    assert post(agent, url, {"action": "refund"}).json()["detail"][0].startswith("售后单")
    assert post(agent, url, {"action": "nope"}).status_code == 400
    assert post(agent, url, {"action": "approve"}).json()["state"] == "approved"
    assert post(agent, url, {"action": "send_address"}).json()["state"] == "awaiting_return"
    assert post(agent, url, {"action": "tracking", "carrier": "圆通", "tracking_no": "YT1"}).status_code == 200
    assert post(agent, url, {"action": "receive"}).status_code == 403
    assert post(w.client(w.warehouse), url, {"action": "receive", "note": "完好"}).json()["state"] == "received"
    assert post(agent, url, {"action": "refund", "amount": "80.01"}).status_code == 400
    done = post(agent, url, {"action": "refund", "amount": "80"}).json()
    assert done["state"] == "refunded" and [s["action"] for s in done["steps"]][-1] == "refund"
    listed = agent.get("/api/aftersales/cases?state=refunded&reason=damaged").json()["cases"]
    assert [c["id"] for c in listed] == [case["id"]]
    assert agent.get("/api/aftersales/cases?state=requested").json()["cases"] == []
    page = w.client(w.supervisor).get(f"/aftersales/cases/{case['id']}")
    assert page.status_code == 200 and "&lt;b&gt;碎了&lt;/b&gt;" in page.content.decode()
    assert "开单 → 待审核" in page.content.decode() and "退款 → 已退款" in page.content.decode()


def test_open_from_the_order_without_a_chat_and_bad_input(w):
    order = w.order("50.00")
    owner = w.client()
    for bad in ({"kind": "gift", "reason": "quality"}, {"kind": "refund_only", "reason": "boredom"},
                {"kind": "refund_only", "reason": "quality", "amount": "-5"},
                {"kind": "refund_only", "reason": "quality", "amount": "51"},
                {"kind": "refund_only", "reason": "quality", "description": "x" * 5000, "amount": "1e9"}):
        assert post(owner, "/api/aftersales/cases", {"order_id": order.pk, **bad}).status_code == 400, bad
    res = post(w.client(w.aftersales), "/api/aftersales/cases", {"order_id": order.pk, "kind": "refund_only",
                                                                  "reason": "quality", "amount": "5"})
    assert res.status_code == 200 and res.json()["conversation_id"] is None
    assert post(w.client(w.warehouse), "/api/aftersales/cases", {"order_id": order.pk, "kind": "refund_only",
                                                                  "reason": "quality"}).status_code == 403


def test_settings_only_for_supervisors(w):
    res = w.client(w.supervisor).put("/api/aftersales/settings", {"approve_within_hours": 4,
                                                                  "postage_table": {"colour": "shop"}},
                                     content_type="application/json")
    assert res.status_code == 200 and res.json()["postage_table"]["colour"] == "shop"
    assert w.client(w.agent).put("/api/aftersales/settings", {"approve_within_hours": 1},
                                 content_type="application/json").status_code == 403
    assert w.client(w.supervisor).put("/api/aftersales/settings", {"approve_within_hours": 0},
                                      content_type="application/json").status_code == 400


def test_side_panel_opens_a_case_and_the_list_surfaces_overdue(w):
    order = w.order("60.00", no="PANEL-1")
    agent = w.client(w.agent)
    panel = agent.get(f"/desk/c/{w.conversation.pk}/returns")
    assert panel.status_code == 200 and "PANEL-1" in panel.content.decode()
    res = agent.post(f"/desk/c/{w.conversation.pk}/returns", {"order": order.pk, "kind": "exchange",
                                                             "reason": "size", "description": "换大一码"})
    assert res.status_code == 200 and "换货" in res.content.decode()
    case = ReturnCase.objects.get(order=order)
    assert case.conversation_id == w.conversation.pk and case.seat_id == w.seat.pk
    ReturnCase.objects.filter(pk=case.pk).update(approve_due_at=timezone.now() - dt.timedelta(hours=1))
    page = w.client(w.supervisor).get("/aftersales/cases?overdue=1").content.decode()
    assert "已超时" in page and "PANEL-1" in page
    assert "PANEL-1" not in w.client(w.supervisor).get("/aftersales/cases?state=closed").content.decode()
    assert w.client(w.warehouse).get(f"/desk/c/{w.conversation.pk}/returns").status_code == 403


def test_the_supervisor_page_shows_overdue_cases(w):
    late = w.open(w.order("70.00", no="LATE-1"))
    ReturnCase.objects.filter(pk=late.pk).update(approve_due_at=timezone.now() - dt.timedelta(hours=3))
    page = w.client(w.supervisor).get("/desk/supervisor").content.decode()
    assert 'hx-get="/aftersales/overdue"' in page and "超时的售后单" in page
    section = w.client(w.supervisor).get("/aftersales/overdue").content.decode()
    assert "LATE-1" in section and "已超时" in section
    assert w.client(w.agent).get("/aftersales/overdue").status_code == 403
