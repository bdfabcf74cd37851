"""The robot inside a conversation: fragments read with the turns before them, and what agents
confirm learnt at once — through the chat hook (services) and the suggestion API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from xiaoer.assistant import services
from xiaoer.assistant.engine import DATA
from xiaoer.assistant.models import ConfirmedPhrasing, LearnedPair, RobotMode, Suggestion
from xiaoer.chat.models import Conversation, Message
from xiaoer.customers.models import Customer
from xiaoer.knowledge import services as knowledge_services
from xiaoer.testing import PASSWORD, make_shop, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(monkeypatch):
    """What the robot pushes and posts, through the chat's public functions."""
    from xiaoer.chat import hub, writer

    record = {"events": [], "posts": []}
    monkeypatch.setattr(hub, "publish_event", lambda *a, **kw: record["events"].append((a, kw)))
    monkeypatch.setattr(writer, "post_message_sync",
                        lambda conv, **kw: record["posts"].append((conv, kw)) or {"id": 0, **kw})
    return record


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    services._active_cache.clear()


@pytest.fixture
def say(django_capture_on_commit_callbacks):
    """Posts a line into the conversation and runs the robot's hook on it, as the chat does."""
    seqs = iter(range(1, 10_000))

    def run(conv: Conversation, body: str, sender: str = "shopper", kind: str = "text", payload=None) -> dict:
        seq = next(seqs)
        msg = Message.objects.create(conversation=conv, shop=conv.shop, seq=seq, client_id=f"c{seq}",
                                     sender_kind=sender, kind=kind, body=body, payload=payload or {},
                                     created_at=timezone.now())
        message = {"id": msg.id, "conversation": conv.id, "shop": conv.shop_id, "seq": seq, "sender_kind": sender,
                   "kind": kind, "body": body, "client_id": msg.client_id, "payload": payload or {},
                   "staff": None, "internal": False}
        with django_capture_on_commit_callbacks(execute=True):
            services.process_messages([message])
        return message
    return run


def _shop():
    shop = make_shop()
    knowledge_services.import_file(shop, "products", (DATA / "products_clothing.csv").read_bytes(), "p.csv")
    knowledge_services.import_file(shop, "answers", (DATA / "kb_clothing.csv").read_bytes(), "kb.csv")
    return shop


def _conversation(shop) -> Conversation:
    return _conversation_of(shop, "小李")


def _conversation_of(shop, name: str) -> Conversation:
    customer = Customer.objects.create(shop=shop, name=name, buyer_id=f"b-{name}")
    return Conversation.objects.create(shop=shop, customer=customer)


def _suggestion(message: dict) -> dict:
    return Suggestion.objects.get(message_id=message["id"]).payload


def _set_mode(shop, mode):
    cfg = services.settings_for(shop.id)
    cfg.mode = mode
    cfg.save()
    services.forget_active(shop.id)


def test_nothing_more_after_the_agents_question_is_not_a_new_question(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "衣服会起球吗")
    say(conv, "亲，这款不起球的，请问还有其他问题吗？", sender="agent")
    data = _suggestion(say(conv, "暂时没有"))
    assert data["context"]["kind"] == "nothing_more"
    assert data["answers"] == [] and data["reject"]
    assert data["intent"] == "product_quality"  # the conversation's matter, not a greeting


def test_ok_after_the_robots_answer_neither_answers_nor_hands_off(chat, say):
    shop = _shop()
    _set_mode(shop, RobotMode.UNATTENDED)
    conv = _conversation(shop)
    say(conv, "你们包邮吗")
    assert [kw["sender_kind"] for _c, kw in chat["posts"]] == ["robot"]
    say(conv, chat["posts"][0][1]["body"], sender="robot")
    data = _suggestion(say(conv, "好的"))
    assert data["context"]["kind"] == "nothing_more" and data["answers"] == []
    assert len(chat["posts"]) == 1  # no second answer, no hand-off notice for 好的


def test_a_bare_order_number_answers_the_earlier_question_with_that_order(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "帮我查下单号 发货没有")
    say(conv, "亲，麻烦提供一下订单号哦", sender="agent")
    data = _suggestion(say(conv, "3928475610123"))
    assert data["context"] == {"kind": "order_number", "about": "帮我查下单号 发货没有"}
    assert data["answers"][0]["id"] == "C24"
    assert "3928475610123" in data["answers"][0]["text"]
    assert "order_no" not in data["answers"][0]["missing"]


def test_an_address_after_asking_for_it_is_an_order_change_with_nothing_to_send(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "地址能改吗")
    say(conv, "可以的亲，请发一下新的收货地址", sender="agent")
    data = _suggestion(say(conv, "浙江省杭州市西湖区文三路100号"))
    assert data["context"]["kind"] == "address"
    assert data["intent"] == "order_change" and data["answers"] == [] and data["reject"]


def test_the_earlier_question_is_answered_when_the_shopper_points_back_at_it(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "洗了会掉色吗")
    say(conv, "在吗")
    data = _suggestion(say(conv, "之前的问题还没回答呢"))
    assert data["context"]["kind"] == "refers_back"
    assert data["answers"][0]["id"] == "C04"


def test_measures_given_to_the_agent_keep_the_size_advice(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "", kind="card", payload={"product_code": "P100"})
    say(conv, "穿什么码")
    say(conv, "亲，您身高体重多少呢？", sender="agent")
    data = _suggestion(say(conv, "160 100斤"))
    assert data["context"]["kind"] == "answers_agent"
    assert [a["id"] for a in data["answers"]] == ["size"] and data["size"]["size"] == "M"


def test_suggest_api_reads_the_text_after_the_conversation(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "衣服会起球吗")
    say(conv, "亲，不会的，还有什么问题吗？", sender="agent")
    client = Client()
    client.login(username=make_staff(shop).user.username, password=PASSWORD)
    in_chat = client.post("/api/assistant/suggest", {"text": "暂时没有", "conversation_id": conv.id},
                          content_type="application/json").json()
    alone = client.post("/api/assistant/suggest", {"text": "暂时没有"}, content_type="application/json").json()
    assert in_chat["context"]["kind"] == "nothing_more" and in_chat["answers"] == []
    assert "context" not in alone  # no conversation: read as it stands


def test_a_new_question_after_the_agent_is_still_a_question(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "衣服会起球吗")
    say(conv, "亲，不会的，还有什么问题吗？", sender="agent")
    data = _suggestion(say(conv, "什么时候发货呢"))
    assert data["context"]["kind"] == "question"
    assert data["answers"][0]["id"] == "C19" and data["intent"] == "shipping"


def test_an_elliptical_follow_up_asks_the_earlier_question_again(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "衣服会起球吗")
    say(conv, "亲，这款不容易起球哦", sender="agent")
    data = _suggestion(say(conv, "那黑色的呢"))
    assert data["context"] == {"kind": "follow_up", "about": "衣服会起球吗"}
    assert data["answers"][0]["id"] == "C03"


# --- learning from the agents' choices --------------------------------------------------------------
def test_an_agent_choosing_another_suggested_answer_teaches_the_shop_at_once(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    question = "这件衣服下水以后颜色会不会跑"
    first = _suggestion(say(conv, question))
    chosen = first["answers"][1]
    assert first["answers"][0]["id"] != chosen["id"]
    say(conv, chosen["text"], sender="agent")
    assert ConfirmedPhrasing.objects.filter(shop=shop, answer__code=chosen["id"], question=question).exists()
    assert not LearnedPair.objects.filter(shop=shop).exists()  # nothing left for a supervisor to review
    again = _suggestion(say(_conversation_of(shop, "小张"), question))
    assert again["answers"][0]["id"] == chosen["id"]
    services.forget_indexes()  # a restarted process: the stored phrasing is part of the rebuilt index
    assert services.suggest_for_text(shop.id, question)["answers"][0]["id"] == chosen["id"]


def test_a_confirmed_phrasing_stays_in_its_shop(chat, say):
    shop, other = _shop(), _shop()
    conv = _conversation(shop)
    question = "这件衣服下水以后颜色会不会跑"
    before = services.suggest_for_text(other.id, question)
    first = _suggestion(say(conv, question))
    say(conv, first["answers"][1]["text"], sender="agent")
    services.forget_indexes()
    after = services.suggest_for_text(other.id, question)
    assert [a["id"] for a in after["answers"]] == [a["id"] for a in before["answers"]]


def test_a_reply_to_a_fragment_teaches_nothing(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "帮我查下单号 发货没有")
    say(conv, "亲，麻烦提供一下订单号哦", sender="agent")
    data = _suggestion(say(conv, "3928475610123"))
    say(conv, data["answers"][1]["text"], sender="agent")
    assert not ConfirmedPhrasing.objects.exists()


def test_a_phone_number_given_to_the_agent_is_not_read_as_an_order(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "地址能改吗")
    say(conv, "可以的，方便留个电话吗？", sender="agent")
    data = _suggestion(say(conv, "13812345678"))
    assert data["context"]["kind"] == "answers_agent" and data["answers"] == []


@pytest.mark.parametrize("text", ["", "发货" * 2500, "1" * 5000, "省市区路号" * 1000, "🙂" * 300])
def test_bad_input_read_with_a_conversation(chat, say, text):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "衣服会起球吗")
    say(conv, "亲，不会的，还有什么问题吗？", sender="agent")
    client = Client()
    client.login(username=make_staff(shop).user.username, password=PASSWORD)
    res = client.post("/api/assistant/suggest", {"text": text, "conversation_id": conv.id},
                      content_type="application/json")
    assert res.status_code == 200
    assert set(res.json()) >= {"intent", "reject", "answers", "context"}


def test_a_request_after_the_agents_open_invitation_is_a_new_question(chat, say):
    shop = _shop()
    conv = _conversation(shop)
    say(conv, "衣服会起球吗")
    say(conv, "亲，不会的，请问还有什么可以帮您的吗？", sender="agent")
    data = _suggestion(say(conv, "要包邮的"))
    assert data["context"]["kind"] == "question" and data["answers"]
    say(conv, "亲，满59包邮哦，还有其他问题吗？", sender="agent")
    assert _suggestion(say(conv, "暂时没有了"))["context"]["kind"] == "nothing_more"
