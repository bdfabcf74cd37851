"""The robot sends a draft instead of its standard answer only where the shop lets it: drafting's
auto-send on, a robot mode that answers alone, confidence over the threshold, and no flag."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from xiaoer.assistant import services as robot
from xiaoer.assistant.models import RobotMode
from xiaoer.drafting.models import DraftingSettings, LlmCall
from xiaoer.drafting.tests.test_drafting import say, scene  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db
STANDARD = "亲，这款面料做过抗起球处理"
DRAFT = "亲，这款面料做过抗起球处理，正常穿不容易起球的，放心哦～"


@pytest.fixture
def posts(monkeypatch):
    from xiaoer.chat import hub, writer

    sent: list[dict] = []
    monkeypatch.setattr(hub, "publish_event", lambda *a, **kw: None)
    monkeypatch.setattr(writer, "post_message_sync", lambda conv, **kw: sent.append(kw) or {"id": 0, **kw})
    cache.clear()
    return sent


def shopper_says(scene, text: str, django_capture_on_commit_callbacks) -> None:  # noqa: F811
    msg = say(scene["conv"], text)
    with django_capture_on_commit_callbacks(execute=True):
        robot.process_messages([{"id": msg.id, "conversation": msg.conversation_id, "shop": msg.shop_id,
                                 "seq": msg.seq, "sender_kind": "shopper", "kind": "text", "body": text,
                                 "client_id": msg.client_id, "payload": {}, "staff": None, "internal": False}])


def robot_mode(shop, mode: str, threshold: float = 0.3) -> None:
    cfg = robot.settings_for(shop.id)
    cfg.mode, cfg.threshold = mode, threshold
    cfg.save()
    robot.forget_active(shop.id)


def test_a_clean_draft_replaces_the_standard_answer(scene, fake_llm, posts, django_capture_on_commit_callbacks):  # noqa: F811
    robot_mode(scene["shop"], RobotMode.THRESHOLD)
    DraftingSettings.objects.create(shop=scene["shop"], auto_send=True)
    fake_llm.reply = DRAFT
    shopper_says(scene, "衣服会起球吗", django_capture_on_commit_callbacks)
    (post,) = posts
    assert post["body"] == DRAFT and post["payload"]["robot"]["drafted"] is True
    assert LlmCall.objects.get(shop=scene["shop"]).purpose == "auto"


@pytest.mark.parametrize("case", ["flagged", "failed", "auto_send_off"])
def test_otherwise_the_robot_sends_its_standard_answer(scene, fake_llm, posts, django_capture_on_commit_callbacks,  # noqa: F811
                                                       case):
    robot_mode(scene["shop"], RobotMode.THRESHOLD)
    DraftingSettings.objects.create(shop=scene["shop"], auto_send=case != "auto_send_off")
    fake_llm.reply = "亲，不会起球，买两件再减30元！"
    fake_llm.mode = "500" if case == "failed" else "ok"
    shopper_says(scene, "衣服会起球吗", django_capture_on_commit_callbacks)
    (post,) = posts
    assert post["body"].startswith(STANDARD) and post["payload"]["robot"]["drafted"] is False
    assert len(fake_llm.requests) == (0 if case == "auto_send_off" else 1)


@pytest.mark.parametrize(("mode", "threshold"), [(RobotMode.SUGGEST, 0.3), (RobotMode.THRESHOLD, 0.99)])
def test_no_call_where_the_robot_would_not_answer_alone(scene, fake_llm, posts, django_capture_on_commit_callbacks,  # noqa: F811
                                                        mode, threshold):
    robot_mode(scene["shop"], mode, threshold)
    DraftingSettings.objects.create(shop=scene["shop"], auto_send=True)
    shopper_says(scene, "这料子穿久了会不会有小毛球", django_capture_on_commit_callbacks)
    assert posts == [] and fake_llm.requests == []
