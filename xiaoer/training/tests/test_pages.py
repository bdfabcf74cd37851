"""The training pages: a trainee plays a scenario and sees the score with reasons."""

from __future__ import annotations

import pytest

from xiaoer.accounts.models import Role
from xiaoer.testing import client_for, make_staff, shopper_arrives
from xiaoer.training.models import Scenario, TrainingSession

pytestmark = pytest.mark.django_db


def test_a_trainee_plays_a_bargaining_scenario_and_sees_the_score(demo_shop):
    agent = make_staff(demo_shop, Role.AGENT)
    client = client_for(agent)
    home = client.get("/desk/training/")
    assert home.status_code == 200 and "精明型顾客砍价" in home.content.decode()
    scenario = Scenario.objects.get(shop=demo_shop, title="精明型顾客砍价")
    res = client.post(f"/desk/training/scenarios/{scenario.pk}/start")
    session = TrainingSession.objects.get(trainee=agent)
    assert res.status_code == 302 and res["Location"].endswith(f"/desk/training/{session.pk}")
    page = client.get(res["Location"]).content.decode()
    assert "训练" in page and "这条裙子包邮吗？" in page
    client.post(f"/desk/training/{session.pk}", {"text": "亲，全店满59元就包邮哦～"})
    chat = client.post(f"/desk/training/{session.pk}", {"text": "<b>不包邮</b>"}, HTTP_HX_REQUEST="true")
    html = chat.content.decode()
    assert "分" in html and "与标准答案意思相近度" in html
    assert "&lt;b&gt;不包邮&lt;/b&gt;" in html and "<b>不包邮</b>" not in html  # escaped
    assert "更好的回答" in html


def test_a_past_conversation_becomes_a_scenario_in_one_step(demo_shop):
    from xiaoer.chat import writer

    lead = make_staff(demo_shop, Role.SUPERVISOR)
    conv = shopper_arrives(demo_shop).conversation
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="这件会起球吗")
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="包邮吗")
    res = client_for(lead).post("/desk/training/from-conversation", {"conversation_id": str(conv.pk)})
    assert res.status_code == 302
    scenario = Scenario.objects.get(shop=demo_shop, source_conversation_id=conv.pk)
    assert scenario.opening == "这件会起球吗" and scenario.questions == ["包邮吗"]
    agent_res = client_for(make_staff(demo_shop, Role.AGENT)).post(
        "/desk/training/from-conversation", {"conversation_id": str(conv.pk)})
    assert agent_res.status_code == 403
