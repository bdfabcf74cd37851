"""Questionnaires: building, the signed link, the public answer page (phone viewport), answers
filling the profile, the coupon issued exactly once, the chat card and the SMS invitation."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client

from xiaoer.chat import cards
from xiaoer.chat import services as chat_services
from xiaoer.chat.models import Message
from xiaoer.crm import care_timeline, questionnaires, timeline
from xiaoer.crm.models import Coupon, QuestionnaireResponse
from xiaoer.customers.models import CustomAttribute, CustomerAttributeValue
from xiaoer.notify.models import Notice

from .carekit import CareWorld


@pytest.fixture
def w(db) -> CareWorld:
    return CareWorld()


def build(w: CareWorld, *, batch=None):
    CustomAttribute.objects.get_or_create(shop=w.shop, key="skin", defaults={"label": "肤质", "kind": "choice",
                                                                             "choices": ["干性", "油性"]})
    return questionnaires.do_save_questionnaire(w.owner, title="穿着习惯小调查", intro="两分钟", questions=[
        {"text": "您的性别", "kind": "single", "choices": ["女", "男"], "maps_to": "gender", "required": True},
        {"text": "您的生日", "kind": "date", "maps_to": "birthday"},
        {"text": "所在城市", "kind": "text", "maps_to": "city"},
        {"text": "肤质", "kind": "single", "choices": ["干性", "油性"], "maps_to": "attr:skin"},
        {"text": "喜欢的风格", "kind": "multiple", "choices": ["简约", "复古", "运动"]},
    ], coupon_batch_id=batch.pk if batch else None)


def answers_for(q) -> dict:
    qs = list(q.questions.all())
    return {str(qs[0].pk): "女", str(qs[1].pk): "1995-06-18", str(qs[2].pk): "杭州<script>",
            str(qs[3].pk): "油性", str(qs[4].pk): ["复古", "简约"]}


def test_building_checks_its_input(w):
    for bad in ([], [{"text": "x", "kind": "single", "choices": ["只有一个"]}],
                [{"text": "", "kind": "text"}], [{"text": "x", "kind": "nope"}],
                [{"text": "生日", "kind": "text", "maps_to": "birthday"}],
                [{"text": "x", "kind": "text", "maps_to": "attr:unknown"}],
                [{"text": "x", "kind": "text"}] * 21):
        with pytest.raises(ValidationError):
            questionnaires.do_save_questionnaire(w.owner, title="问卷", questions=bad)
    res = w.client().post("/api/crm/questionnaires", {"title": "t", "questions": [{"text": "x", "kind": "text"}] * 21},
                          content_type="application/json")
    assert res.status_code in (400, 422)
    assert w.client(w.agent).post("/api/crm/questionnaires", {"title": "t", "questions": []},
                                  content_type="application/json").status_code == 403


def test_answering_fills_the_profile_and_rewards_once(w):
    q = build(w, batch=w.batch())
    customer = w.buyer
    first = questionnaires.do_submit_answers(q, customer, answers_for(q))
    again = questionnaires.do_submit_answers(q, customer, answers_for(q) | {str(q.questions.first().pk): "男"})
    assert first.created and not again.created
    assert again.response.pk == first.response.pk and again.coupon.pk == first.coupon.pk
    assert Coupon.objects.filter(customer=customer).count() == 1
    assert first.coupon.reason == "questionnaire" and first.coupon.rule == f"questionnaire:{q.pk}"
    customer.refresh_from_db()
    assert (customer.gender, customer.birth_date, customer.birthday_month, customer.birthday_day, customer.city) == \
        ("female", dt.date(1995, 6, 18), 6, 18, "杭州<script>")
    assert CustomerAttributeValue.objects.get(customer=customer, attribute__key="skin").value == "油性"
    # on the customer's timeline, with the answers
    kinds = {e.kind for e in timeline.timeline(customer)}
    assert {"coupon", "questionnaire"} <= kinds
    detail = next(e for e in care_timeline.care_events(customer) if e.kind == "questionnaire").detail
    assert "复古、简约" in detail and "油性" in detail


def test_bad_answers_are_refused(w):
    q = build(w)
    qs = list(q.questions.all())
    for bad in ({str(qs[0].pk): "其他"}, {str(qs[0].pk): "女", str(qs[1].pk): "明天"},
                {str(qs[0].pk): "女", str(qs[1].pk): "2999-01-01"}, {str(qs[0].pk): "女", str(qs[2].pk): "长" * 501},
                {str(qs[0].pk): "女", str(qs[4].pk): ["没有这个"]}, {}):
        with pytest.raises(ValidationError):
            questionnaires.do_submit_answers(q, w.buyer, bad)
    assert not QuestionnaireResponse.objects.exists()


def test_public_page_double_submit_and_bad_links(w):
    q = build(w, batch=w.batch())
    path = questionnaires.link_path(q, w.buyer)
    shopper = Client(enforce_csrf_checks=False)
    page = shopper.get(path)
    body = page.content.decode()
    assert page.status_code == 200 and 'name="viewport"' in body and "穿着习惯小调查" in body
    assert shopper.post(path, {}).status_code == 400  # the required question
    data = {k: v for k, v in answers_for(q).items()}
    first = shopper.post(path, data)
    second = shopper.post(path, data)  # a double click
    assert first.status_code == second.status_code == 200
    code = Coupon.objects.get(customer=w.buyer).code
    assert code[:4] in first.content.decode() and code[:4] in second.content.decode()
    assert QuestionnaireResponse.objects.count() == 1 and Coupon.objects.count() == 1
    answers_page = w.client().get(f"/customers/questionnaires/{q.pk}").content.decode()
    assert "杭州&lt;script&gt;" in answers_page and "杭州<script>" not in answers_page  # escaped
    # tampered, other shop's slug, inactive
    assert shopper.get(path[:-3] + "abc").status_code == 404
    other = CareWorld("别家店")
    assert shopper.get(path.replace(f"/q/{w.shop.slug}/", f"/q/{other.shop.slug}/")).status_code == 404
    questionnaires.do_set_active(w.owner, q, False)
    assert shopper.get(path).status_code == 404


def test_sent_as_a_chat_card_only_by_staff(w):
    q = build(w)
    conv = chat_services.get_or_create_conversation(w.shop, w.buyer)
    from xiaoer.chat.models import Conversation

    Conversation.objects.filter(pk=conv.pk).update(seat=w.seat, status="open")
    res = w.client(w.agent).post(f"/api/crm/questionnaires/{q.pk}/send-chat", {"conversation_id": conv.pk},
                                 content_type="application/json")
    assert res.status_code == 200, res.content
    message = Message.objects.get(conversation=conv, kind="card")
    assert message.payload["type"] == "questionnaire" and message.payload["url"].startswith(f"/q/{w.shop.slug}/")
    assert Client().get(message.payload["url"]).status_code == 200  # the link in the card works
    with pytest.raises(LookupError):  # a shopper cannot ask for a questionnaire card (and its coupon)
        cards.build(conv.pk, {"questionnaire": q.pk}, shopper=True)


def test_sent_by_sms_once(w, settings):
    q = build(w)
    w.buyer.phone = "13900000000"
    w.buyer.save()
    client = w.client()
    settings.PUBLIC_URL = ""
    res = client.post(f"/api/crm/questionnaires/{q.pk}/send-sms", {"customer_id": w.buyer.pk},
                      content_type="application/json")
    assert res.status_code == 400  # no public address: the link would not open
    settings.PUBLIC_URL = "https://desk.example.com"
    for _ in range(2):
        res = client.post(f"/api/crm/questionnaires/{q.pk}/send-sms", {"customer_id": w.buyer.pk},
                          content_type="application/json")
        assert res.status_code == 200
    notice = Notice.objects.get(shop=w.shop)
    assert notice.channel == "sms" and "https://desk.example.com/q/" in notice.body


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_submits_at_once_reward_once():
    w = CareWorld()
    q = build(w, batch=w.batch())
    barrier = threading.Barrier(2)
    created: list[bool] = []
    errors: list[Exception] = []

    def submit() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                created.append(questionnaires.do_submit_answers(q, w.buyer, answers_for(q)).created)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(created) == [False, True]
    assert QuestionnaireResponse.objects.count() == 1 and Coupon.objects.count() == 1


def test_api_builds_edits_and_lists_answers(w):
    client = w.client()
    body = {"title": "回访问卷", "intro": "", "questions": [{"text": "满意吗", "kind": "single", "choices": ["满意", "一般"],
                                                         "required": True}]}
    res = client.post("/api/crm/questionnaires", body, content_type="application/json")
    assert res.status_code == 200
    qid, question = res.json()["id"], res.json()["questions"][0]["id"]
    body["questions"].append({"text": "建议", "kind": "text"})
    res = client.put(f"/api/crm/questionnaires/{qid}", body, content_type="application/json")
    assert res.status_code == 200 and len(res.json()["questions"]) == 2
    q = questionnaires.access_questionnaire(w.owner, qid)
    first = str(q.questions.first().pk)
    assert first != str(question)  # replaced
    questionnaires.do_submit_answers(q, w.buyer, {first: "满意"})
    assert client.put(f"/api/crm/questionnaires/{qid}", body, content_type="application/json").status_code == 400
    answers = client.get(f"/api/crm/questionnaires/{qid}/responses").json()["responses"]
    assert answers[0]["customer_id"] == w.buyer.pk and answers[0]["answers"] == {first: "满意"}
    care = client.get(f"/api/crm/customers/{w.buyer.pk}/care").json()["entries"]
    assert care[0]["kind"] == "questionnaire" and "满意" in care[0]["detail"]
    listed = w.client(w.agent).get("/api/crm/questionnaires").json()["questionnaires"]
    assert [x["id"] for x in listed] == [qid]  # agents see them, to send one


def test_pages_build_a_questionnaire_and_show_it(w):
    client = w.client()
    res = client.post("/customers/questionnaires", {
        "title": "页面问卷", "q1_text": "性别", "q1_kind": "single", "q1_choices": "女\n男", "q1_maps": "gender",
        "q1_required": "1", "q2_text": "", "q3_text": "城市", "q3_kind": "text", "q3_maps": "city"})
    assert res.status_code == 302
    q = questionnaires.questionnaires_of(w.owner)[0]
    assert [(x.text, x.maps_to, x.required) for x in q.questions.all()] == [("性别", "gender", True), ("城市", "city", False)]
    assert "页面问卷" in client.get(res["Location"]).content.decode()
    res = client.post("/customers/questionnaires", {"title": "", "q1_text": "x"})
    assert res.status_code == 302 and "error=" in res["Location"]


def test_the_workbench_panel_sends_a_questionnaire(w):
    from xiaoer.chat.models import Conversation

    q = build(w)
    conv = chat_services.get_or_create_conversation(w.shop, w.buyer)
    Conversation.objects.filter(pk=conv.pk).update(seat=w.seat, status="open")
    agent = w.client(w.agent)
    panel = agent.get(f"/desk/c/{conv.pk}/care").content.decode()
    assert "穿着习惯小调查" in panel and "发给顾客" in panel
    assert agent.post(f"/desk/c/{conv.pk}/care", {"questionnaire": q.pk}).status_code == 200
    assert Message.objects.get(conversation=conv, kind="card").payload["questionnaire"] == q.pk
    other = CareWorld("别家店")
    their = build(other)
    assert agent.post(f"/desk/c/{conv.pk}/care", {"questionnaire": their.pk}).status_code == 404
    assert w.client(other.owner).get(f"/desk/c/{conv.pk}/care").status_code == 404
