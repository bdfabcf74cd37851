"""CSAT: a rating card once per resolved conversation (even when the event comes twice), answered
later through the card's link (phone page), by hand from an agent, and the two documented figures."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client

from xiaoer.accounts.models import Role
from xiaoer.aftersales import csat
from xiaoer.aftersales.models import CsatSurvey
from xiaoer.chat import services as chat_services
from xiaoer.chat.models import Message
from xiaoer.events.testing import deliver_all
from xiaoer.testing import make_staff

from .returnkit import ReturnWorld


@pytest.fixture
def w(db) -> ReturnWorld:
    return ReturnWorld()


def cards_of(conv) -> list[Message]:
    return list(Message.objects.filter(conversation=conv, kind="card", payload__type="csat"))


def test_resolving_sends_one_card_with_seat_and_person_answerable_later(w):
    conv = w.conversation
    assert conv.seat_id == w.seat.pk
    chat_services.do_resolve(w.agent, conv)
    deliver_all()
    deliver_all(retry_now=True)
    survey = CsatSurvey.objects.get(conversation=conv)
    assert (survey.seat_id, survey.served_by_id, survey.sent_by_id) == (w.seat.pk, w.agent.pk, None)
    # resolved again after a reopen: still one card
    chat_services.do_reopen(w.agent, chat_services.access_conversation(w.agent, conv.pk))
    chat_services.do_resolve(w.agent, chat_services.access_conversation(w.agent, conv.pk))
    deliver_all()
    cards = cards_of(conv)
    assert len(cards) == 1 and CsatSurvey.objects.filter(conversation=conv).count() == 1
    url = cards[0].payload["url"]
    page = Client().get(url)
    assert page.status_code == 200 and 'name="viewport"' in page.content.decode()
    res = Client().post(url, {"rating": "2", "comment": "<script>慢</script>"})
    assert res.status_code == 200 and "&lt;script&gt;" in res.content.decode()
    res = Client().post(url, {"rating": "4", "comment": "后来解决了"})  # answerable later; the last answer counts
    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (4, "后来解决了") and survey.answered_at
    for bad in ("0", "6", "x", ""):
        assert Client().post(url, {"rating": bad}).status_code == 400
    assert Client().get(url[:-3] + "abc").status_code == 404


def test_an_agent_sends_it_by_hand_once(w):
    survey = csat.do_send_by_hand(w.agent, w.conversation.pk)
    assert survey.sent_by_id == w.agent.pk and survey.served_by_id == w.agent.pk
    with pytest.raises(ValidationError, match="已经发过"), transaction.atomic():
        csat.do_send_by_hand(w.agent, w.conversation.pk)
    res = w.client(w.agent).post("/api/aftersales/csat/send", {"conversation_id": w.conversation.pk},
                                 content_type="application/json")
    assert res.status_code == 400
    chat_services.do_resolve(w.agent, w.conversation)
    deliver_all()
    assert len(cards_of(w.conversation)) == 1


def test_satisfaction_and_response_rate(w):
    assert csat.stats(w.owner) == {"sent": 0, "answered": 0, "satisfied": 0, "satisfaction": None,
                                   "response_rate": None}
    from xiaoer.testing import shopper_arrives

    ratings = [5, 4, 3, None]
    for rating in ratings:
        conv = shopper_arrives(w.shop).conversation
        survey = csat.do_send_by_hand(w.owner, conv.pk)
        if rating:
            csat.do_answer(survey, rating)
    stats = w.client(make_staff(w.shop, Role.SUPERVISOR)).get("/api/aftersales/csat/stats").json()
    assert stats == {"sent": 4, "answered": 3, "satisfied": 2, "satisfaction": round(2 / 3, 4),
                     "response_rate": 0.75}
