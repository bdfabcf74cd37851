"""The robot inside the shop: live suggestions, robot modes, hand-off, learning, pages, API, eval."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from xiaoer.assistant import services
from xiaoer.assistant.engine import DATA
from xiaoer.assistant.models import LearnedPair, LearnStatus, RobotMode, Suggestion
from xiaoer.chat.events import MessagesCommitted
from xiaoer.chat.models import Conversation, Message
from xiaoer.customers.models import Customer
from xiaoer.knowledge import services as knowledge_services
from xiaoer.knowledge.models import StandardAnswer
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db

KB = (DATA / "kb_clothing.csv").read_bytes()


@pytest.fixture
def chat(monkeypatch):
    """Captures what the robot pushes and posts, through the chat's public functions."""
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
def commit(django_capture_on_commit_callbacks):
    """Runs the chat hook the way the chat does: on committed messages, with after-commit effects."""
    def run(messages):
        with django_capture_on_commit_callbacks(execute=True):
            services.process_messages(messages)
    return run


def _shop_with_kb():
    shop = make_shop()
    knowledge_services.import_file(shop, "products", (DATA / "products_clothing.csv").read_bytes(), "p.csv")
    knowledge_services.import_file(shop, "answers", KB, "kb.csv")
    return shop


def _conversation(shop, name="小王") -> Conversation:
    customer = Customer.objects.create(shop=shop, name=name, buyer_id=f"b-{name}")
    return Conversation.objects.create(shop=shop, customer=customer)


_seq = iter(range(1, 10_000))


def _message(conv: Conversation, body: str, sender: str = "shopper", kind: str = "text", payload=None,
             staff=None, client_id: str | None = None) -> dict:
    seq = next(_seq)
    client_id = client_id or f"c{seq}"
    msg = Message.objects.create(conversation=conv, shop=conv.shop, seq=seq, client_id=client_id,
                                 sender_kind=sender, kind=kind, body=body, payload=payload or {},
                                 created_at=timezone.now(), staff=staff)
    return {"id": msg.id, "conversation": conv.id, "shop": conv.shop_id, "seq": seq, "sender_kind": sender,
            "kind": kind, "body": body, "client_id": client_id,
            "payload": payload or {}, "staff": staff.id if staff else None, "internal": False}


def _set_mode(shop, mode, **extra):
    cfg = services.settings_for(shop.id)
    cfg.mode = mode
    for key, value in extra.items():
        setattr(cfg, key, value)
    cfg.save()
    services.forget_active(shop.id)


def test_shopper_message_gets_a_suggestion_event_with_product_facts(chat, commit):
    shop = _shop_with_kb()
    conv = _conversation(shop)
    _message(conv, "", kind="card", payload={"product_code": "P100"})
    commit([_message(conv, "我160 100斤穿什么码")])
    stored = Suggestion.objects.get(conversation=conv)
    assert stored.intent == "size_spec"
    (args, kwargs), = [e for e in chat["events"] if e[0][1] == "suggestion"]
    assert args[0] == shop.id and kwargs["conversation_id"] == conv.id
    assert args[2]["size"]["size"] == "M" and args[2]["product"] == "P100"
    assert {r["code"] for r in args[2]["related"]} == {"P101", "P102", "P103"}  # cross-sell and upsell
    assert chat["posts"] == []  # suggest mode: the robot never speaks


def test_robot_off_does_nothing(chat, commit):
    shop = _shop_with_kb()
    _set_mode(shop, RobotMode.OFF)
    commit([_message(_conversation(shop), "什么时候发货")])
    assert not Suggestion.objects.exists() and chat["events"] == []


def test_unattended_mode_answers_when_nobody_is_online(chat, commit):
    shop = _shop_with_kb()
    _set_mode(shop, RobotMode.UNATTENDED)
    conv = _conversation(shop)
    commit([_message(conv, "你们包邮吗")])
    (conv_id, kw), = chat["posts"]
    assert conv_id == conv.id and kw["sender_kind"] == "robot"
    assert kw["body"] == StandardAnswer.objects.get(shop=shop, code="C15").answer  # the shop's own words only


def test_unattended_mode_stays_quiet_when_an_agent_is_online_in_hours(chat, commit):
    shop = _shop_with_kb()
    _set_mode(shop, RobotMode.UNATTENDED, work_start=dt.time(0, 0), work_end=dt.time(23, 59, 59))
    make_seat(shop, operator=make_staff(shop), online=True)
    commit([_message(_conversation(shop), "你们包邮吗")])
    assert chat["posts"] == []


def test_unsure_or_transfer_request_hands_off_with_what_it_knows(chat, commit):
    shop = _shop_with_kb()
    _set_mode(shop, RobotMode.UNATTENDED)
    conv = _conversation(shop)
    commit([_message(conv, "我要人工客服")])
    kinds = [(kw["sender_kind"], kw["kind"], kw.get("internal", False)) for _c, kw in chat["posts"]]
    assert ("robot", "text", False) in kinds and ("system", "event", True) in kinds
    note = next(kw["body"] for _c, kw in chat["posts"] if kw["kind"] == "event")
    assert "我要人工客服" in note
    assert any(e[0][1] == "handoff" for e in chat["events"])
    commit([_message(conv, "人工！！")])  # a second ask soon after: no second notice
    assert len(chat["posts"]) == 2


def test_robot_never_sends_an_answer_missing_an_order_number(chat, commit):
    shop = _shop_with_kb()
    _set_mode(shop, RobotMode.UNATTENDED)
    commit([_message(_conversation(shop), "快递单号发我一下")])
    sent = [kw["body"] for _c, kw in chat["posts"] if kw["sender_kind"] == "robot"]
    assert all("【" not in body for body in sent)


def test_threshold_mode_needs_confidence(chat, commit):
    shop = _shop_with_kb()
    _set_mode(shop, RobotMode.THRESHOLD, threshold=0.99)
    commit([_message(_conversation(shop), "包邮吗")])
    assert chat["posts"] == []


def test_agent_reply_that_differs_is_kept_and_turned_into_a_phrasing(chat, commit):
    shop = _shop_with_kb()
    conv = _conversation(shop)
    agent = make_staff(shop)
    commit([_message(conv, "快递能放驿站不")])
    commit([_message(conv, "可以的亲，默认放驿站，需要送上门请备注", sender="agent", staff=agent)])
    pair = LearnedPair.objects.get(shop=shop)
    assert pair.question == "快递能放驿站不" and pair.staff == agent
    supervisor = owner_of(shop)
    services.do_learn_as_phrasing(supervisor, pair, "C22")
    assert "快递能放驿站不" in StandardAnswer.objects.get(shop=shop, code="C22").similar
    pair.refresh_from_db()
    assert pair.status == LearnStatus.PHRASING


def test_agent_reply_same_as_suggestion_is_not_a_lesson(chat, commit):
    shop = _shop_with_kb()
    conv = _conversation(shop)
    commit([_message(conv, "包邮吗")])
    top = Suggestion.objects.get(conversation=conv).top_text
    commit([_message(conv, top, sender="agent", staff=make_staff(shop))])
    assert not LearnedPair.objects.exists()


def test_learned_pair_becomes_a_new_answer_in_one_step_on_the_page(chat, commit):
    shop = _shop_with_kb()
    conv = _conversation(shop)
    commit([_message(conv, "你们支持以旧换新吗")])
    commit([_message(conv, "亲，目前不支持以旧换新哦", sender="agent", staff=make_staff(shop))])
    pair = LearnedPair.objects.get(shop=shop)
    client = Client()
    client.login(username=owner_of(shop).user.username, password=PASSWORD)
    assert "你们支持以旧换新吗" in client.get("/desk/robot/learned").content.decode()
    res = client.post(f"/desk/robot/learned/{pair.id}", {"action": "new_answer", "code": "N1", "category": "other"})
    assert res.status_code == 302
    new = StandardAnswer.objects.get(shop=shop, code="N1")
    assert new.question == "你们支持以旧换新吗" and new.answer == "亲，目前不支持以旧换新哦"


def test_index_rebuilds_after_a_knowledge_change():
    shop = _shop_with_kb()
    before = services.suggest_for_text(shop.id, "你们支持以旧换新吗")
    assert before["reject"]
    knowledge_services.do_save_answer(owner_of(shop), code="N1", category="other", question="支持以旧换新吗",
                                      similar=["能旧的换新的吗"], answer="亲，暂不支持以旧换新")
    after = services.suggest_for_text(shop.id, "你们支持以旧换新吗")
    assert after["answers"][0]["id"] == "N1"


def test_panel_renders_insert_buttons_and_escapes(chat):
    shop = _shop_with_kb()
    conv = _conversation(shop, name="<b>坏人</b>")
    _message(conv, "什么时候发货<script>x</script>")
    agent = make_staff(shop)
    client = Client()
    client.login(username=agent.user.username, password=PASSWORD)
    page = client.get(f"/desk/c/{conv.id}/assistant").content.decode()
    assert "data-insert-text=" in page and "<script>x</script>" not in page
    other_shop_agent = make_staff(make_shop())
    client.login(username=other_shop_agent.user.username, password=PASSWORD)
    assert client.get(f"/desk/c/{conv.id}/assistant").status_code == 404


def test_suggest_api(chat):
    shop = _shop_with_kb()
    client = Client()
    client.login(username=make_staff(shop).user.username, password=PASSWORD)
    res = client.post("/api/assistant/suggest", {"text": "能机洗吗", "product": "P101"}, content_type="application/json")
    assert res.status_code == 200
    body = res.json()
    assert any(f["field"] == "care" for f in body["facts"])


def test_robot_settings_page_is_supervisor_only():
    shop = make_shop()
    client = Client()
    client.login(username=make_staff(shop).user.username, password=PASSWORD)
    assert client.get("/desk/robot").status_code == 403
    client.login(username=owner_of(shop).user.username, password=PASSWORD)
    res = client.post("/desk/robot", {"mode": "threshold", "threshold": "0.9", "work_start": "08:00",
                                      "work_end": "22:00", "handoff_text": "稍等，马上为您转人工"})
    assert res.status_code == 302
    assert services.settings_for(shop.id).mode == RobotMode.THRESHOLD


def test_eval_command_prints_one_json_object(tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"text": "几号发货呀", "intent": "shipping", "faq_id": "C19"},
        {"text": "能不能包邮", "intent": "bargain", "faq_id": "C15"},
        {"text": "你们招聘吗", "intent": "other", "faq_id": None},
    ]), encoding="utf-8")
    call_command("assistant", "eval", "--kb", str(DATA / "kb_clothing.csv"), "--questions", str(questions),
                 "--no-encoder")
    result = json.loads(capsys.readouterr().out)
    for key in ("n", "intent_accuracy", "top1", "top3", "reject_precision", "reject_recall", "p50_ms", "p99_ms"):
        assert key in result and key in result["baseline_bm25"]
    assert result["n"] == 3
    from xiaoer.accounts.models import Shop

    assert not Shop.objects.filter(slug__startswith="eval-").exists()  # the throw-away shop is gone


def test_eval_command_reports_a_bad_questions_file(tmp_path):
    from django.core.management.base import CommandError

    questions = tmp_path / "q.jsonl"
    questions.write_text('{"text": "x", "intent": "shipping", "faq_id": "NOPE"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="NOPE"):
        call_command("assistant", "eval", "--kb", str(DATA / "kb_clothing.csv"), "--questions", str(questions),
                     "--no-encoder")


def test_demo_seed_is_idempotent():
    from xiaoer.assistant import demo

    shop = make_shop()
    first = demo.seed(shop)
    second = demo.seed(shop)
    assert first == second and first["answers"] == StandardAnswer.objects.filter(shop=shop).count()


@pytest.mark.parametrize("text", ["", "🙂🙂🙂", "where is my parcel", "88888888", "发货" * 2500])
def test_suggest_api_survives_bad_input(chat, text):
    shop = _shop_with_kb()
    client = Client()
    client.login(username=make_staff(shop).user.username, password=PASSWORD)
    res = client.post("/api/assistant/suggest", {"text": text}, content_type="application/json")
    assert res.status_code == 200
    body = res.json()
    assert set(body) >= {"intent", "confidence", "reject", "answers", "facts", "size", "others"}
    if not text.strip() or text.startswith("🙂"):
        assert body["reject"]


@pytest.mark.django_db(transaction=True)
def test_robot_thinks_outside_any_transaction(chat, commit, monkeypatch):
    """Regression: the suggestion was computed inside transaction.atomic(); on SQLite (IMMEDIATE)
    that held the write lock for the whole computation and logins failed with 'database is locked'."""
    from django.db import connection

    shop = _shop_with_kb()
    conv = _conversation(shop)
    seen: list[bool] = []
    real = services.suggest_for_text

    def spy(*args, **kwargs):
        seen.append(connection.in_atomic_block)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "suggest_for_text", spy)
    commit([_message(conv, "什么时候发货")])
    assert seen == [False]
    assert Suggestion.objects.filter(conversation=conv).count() == 1


def test_hook_costs_no_queries_for_shops_without_knowledge(commit, django_assert_num_queries):
    """Regression: every committed chat message cost the robot hook queries even for shops with
    nothing to suggest, which took chat p99 from under 100 ms to seconds at 1,000 msg/s."""
    conv = _conversation(make_shop())
    batch = [_message(conv, f"在吗 {i}") for i in range(50)]
    commit(batch[:1])  # the first look at a shop may ask the database
    with django_assert_num_queries(0):
        commit(batch[1:])


class _CountingStubEncoder:
    """A cheap deterministic stand-in for the sentence encoder that counts its calls."""

    name, dim = "stub-chars", 32

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        import numpy as np

        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text:
                out[row, ord(ch) % self.dim] += 1.0
        return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-9)


def test_robot_behind_answers_with_words_only_and_says_so(chat, commit, settings):
    from xiaoer.assistant import encoder as enc

    stub = _CountingStubEncoder()
    enc.set_encoder(stub)
    services.forget_indexes()
    shop = _shop_with_kb()
    conv = _conversation(shop)
    services.get_index(shop.id)  # built (encodes the knowledge) before the messages arrive
    fresh = _message(conv, "穿久了表面会不会毛毛的")
    stub.calls = 0
    commit([fresh])
    assert stub.calls == 1
    late = _message(conv, "衣服啥时候能寄出来")
    late["created_at"] = (timezone.now() - dt.timedelta(seconds=30)).isoformat()
    commit([late])
    assert stub.calls == 1  # the late message did not wait for the encoder
    first, second = Suggestion.objects.filter(conversation=conv).order_by("id")
    assert first.payload["busy"] is False and second.payload["busy"] is True
    assert second.intent == "shipping"
    page = Client()
    page.login(username=owner_of(shop).user.username, password=PASSWORD)
    html = page.get(f"/desk/c/{conv.id}/assistant").content.decode()
    assert "繁忙：仅字词匹配" in html


def test_indexes_are_warmed_for_shops_whose_robot_has_work():
    busy, off, empty = _shop_with_kb(), _shop_with_kb(), make_shop()
    _set_mode(off, RobotMode.OFF)
    services.forget_indexes()
    assert services.warm_indexes() == 1
    assert busy.id in services._indexes and off.id not in services._indexes and empty.id not in services._indexes


def test_robot_queue_drops_past_its_bound_instead_of_blocking_the_chat(monkeypatch):
    import threading

    release = threading.Event()
    handled = []

    def slow_robot(messages):
        release.wait(10)
        handled.extend(messages)

    monkeypatch.setattr(services, "process_messages", slow_robot)
    worker = services.RobotWorker(maxsize=2)
    worker.submit([{"id": i} for i in range(10)])  # returns at once: the chat's thread never waits
    assert worker.dropped >= 7
    release.set()
    worker.wait_idle()
    assert 1 <= len(handled) <= 3 and handled[0]["id"] == 0


def test_in_worker_mode_the_hook_queues_a_task_instead_of_using_the_server_thread(
        chat, monkeypatch, django_capture_on_commit_callbacks):
    from huey.contrib.djhuey import HUEY

    monkeypatch.setenv("XIAOER_ASSISTANT_RUN_IN", "worker")
    monkeypatch.setattr(HUEY, "immediate", True)  # the task runs here, as a worker would run it

    def server_thread_used(messages):
        raise AssertionError("robot work ran in the chat server process")

    monkeypatch.setattr(services.WORKER, "submit", server_thread_used)
    shop = _shop_with_kb()
    conv = _conversation(shop)
    m = _message(conv, "几天能发货呀")
    event = MessagesCommitted(
        shop_id=shop.id, shop_ids=[shop.id], conversations=[[conv.id, shop.id, None, conv.status]],
        messages=[[conv.id, m["seq"], m["id"], "shopper", False, None, None]], created_at="", live=(m,))
    with django_capture_on_commit_callbacks(execute=True):
        services.on_committed(event)
    assert Suggestion.objects.get(conversation=conv).intent == "shipping"  # the task ran (immediate mode)
    monkeypatch.setenv("XIAOER_ASSISTANT_RUN_IN", "server")
    assert not services.runs_in_workers()


def test_a_reply_pairs_only_with_the_turn_it_answered(chat, commit):
    """/desk/robot/learned: a later, unrelated agent line is not the answer to a question that was
    already answered, nor to one the shopper moved on from (issue 10)."""
    shop = _shop_with_kb()
    conv = _conversation(shop)
    agent = make_staff(shop)
    commit([_message(conv, "包邮吗")])
    top = Suggestion.objects.get(conversation=conv).top_text
    commit([_message(conv, top, sender="agent", staff=agent)])  # answered with the suggestion
    commit([_message(conv, "", sender="agent", kind="image", payload={"attachment": "x"}, staff=agent)])
    commit([_message(conv, "还有别的需要帮忙的吗", sender="agent", staff=agent)])
    other = _conversation(shop, name="小李")
    commit([_message(other, "你们支持以旧换新吗")])
    commit([_message(other, "", kind="image", payload={"attachment": "y"})])  # the shopper moved on
    commit([_message(other, "收到图片了，这个划痕我们给您处理", sender="agent", staff=agent)])
    assert not LearnedPair.objects.exists()
    commit([_message(other, "那以旧换新呢")])
    commit([_message(other, "亲，目前不支持以旧换新哦", sender="agent", staff=agent)])
    assert list(LearnedPair.objects.values_list("question", "reply")) == [("那以旧换新呢", "亲，目前不支持以旧换新哦")]


def test_a_seats_greeting_is_not_learned_and_does_not_hide_the_reply_after_it(chat, commit):
    """The greeting (docs/decisions/120) lands between the shopper's first question and the
    agent's reply: it is no lesson itself, and the reply still pairs with the question."""
    shop = _shop_with_kb()
    conv = _conversation(shop)
    agent = make_staff(shop)
    commit([_message(conv, "你们支持以旧换新吗")])
    commit([_message(conv, "您好，我是小美", sender="agent", client_id=f"sys:greet:{conv.pk}")])
    assert not LearnedPair.objects.exists()
    commit([_message(conv, "亲，目前不支持以旧换新哦", sender="agent", staff=agent)])
    assert list(LearnedPair.objects.values_list("question", "reply")) == [("你们支持以旧换新吗", "亲，目前不支持以旧换新哦")]


def test_one_knowledge_write_bumps_the_version_once_and_queues_one_rebuild(monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    """Regression: a model signal and the service both bumped the version and queued two rebuilds."""
    from xiaoer.assistant import tasks
    from xiaoer.events.models import OutboxEvent

    shop = make_shop()
    queued = []
    monkeypatch.setattr(tasks, "schedule_rebuild", queued.append)
    version = knowledge_services.knowledge_version(shop.id)
    with django_capture_on_commit_callbacks(execute=True):
        knowledge_services.do_save_answer(owner_of(shop), code="N1", category="other", question="支持以旧换新吗",
                                          similar=[], answer="亲，暂不支持以旧换新")
    assert knowledge_services.knowledge_version(shop.id) == version + 1
    assert queued == [shop.id]
    assert list(OutboxEvent.objects.filter(name="knowledge.KnowledgeChanged").values_list("payload", flat=True)) \
        == [{"shop_id": shop.id, "version": version + 1}]


def test_a_wrong_role_gets_403_for_the_robot_settings_not_404():
    """Regression: the settings service raised Http404 for an agent; a wrong role is 403 everywhere."""
    from django.core.exceptions import PermissionDenied

    shop = make_shop()
    agent = make_staff(shop)
    with pytest.raises(PermissionDenied):
        services.do_update_settings(agent, mode="suggest", threshold=0.5, work_start=dt.time(9),
                                    work_end=dt.time(23), handoff_text="稍等")
    client = Client()
    client.login(username=agent.user.username, password=PASSWORD)
    assert client.get("/desk/robot").status_code == 403
    assert client.post("/desk/robot", {"mode": "suggest", "threshold": "0.5", "handoff_text": "x"}
                       ).status_code == 403
