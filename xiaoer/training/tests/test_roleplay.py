"""Role-play through the services: a simulated shopper of each type, scores with reasons, and no
real conversation, customer, order or event touched."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from xiaoer.accounts.models import Role
from xiaoer.chat.models import Conversation, Message
from xiaoer.customers.models import Customer, ShopperType
from xiaoer.testing import make_shop, make_staff
from xiaoer.training import demo as training_demo
from xiaoer.training import services
from xiaoer.training.models import Scenario, SessionStatus

pytestmark = pytest.mark.django_db

GOOD = {
    "包邮吗": "亲，全店满59元就包邮哦（偏远地区除外）～",
    "什么时候发货": "亲，下午4点前付款当天就发，4点以后次日发出哦～",
    "尺码偏大还是偏小": "亲，这款是标准码，按平时的尺码拍就行，喜欢宽松可以拍大一码哦～",
    "有大码吗": "亲，这款最大做到2XL，适合150斤以内，再大可以看看加大款哦～",
    "快递几天到": "亲，江浙沪一般次日达，其他地区2-4天，偏远地区5-7天哦～",
}


def _shopper(session) -> list[str]:
    return [m.text for m in session.messages.filter(from_shopper=True)]


@pytest.mark.parametrize("shopper_type", ShopperType.values)
def test_a_shopper_of_each_type_is_answered_and_orders(demo_shop, shopper_type):
    agent = make_staff(demo_shop, Role.AGENT)
    lead = make_staff(demo_shop, Role.SUPERVISOR)
    scenario = services.do_create_scenario(lead, title=f"测试 {shopper_type}", shopper_type=shopper_type,
                                           opening="包邮吗？", questions=["什么时候发货？"])
    now = timezone.now()
    session = services.do_start_session(agent, scenario, now=now)
    assert _shopper(session) == ["包邮吗？"]
    first = services.do_reply(agent, session, GOOD["包邮吗"], now=now + dt.timedelta(seconds=10))
    assert first.score >= 60 and first.reasons
    services.do_reply(agent, session, GOOD["什么时候发货"], now=now + dt.timedelta(seconds=20))
    if shopper_type == ShopperType.THRIFTY:  # the bargainer pushes the price before ordering
        assert _shopper(session)[-1] == "能再便宜点吗？"
        services.do_reply(agent, session, "亲，价格已经很实在了，关注店铺可以领无门槛券哦～",
                          now=now + dt.timedelta(seconds=30))
    session.refresh_from_db()
    assert session.status == SessionStatus.ORDERED
    assert session.score >= 60
    assert any("结果" in r["text"] for r in session.reasons)


def test_unanswered_questions_are_asked_again_then_the_shopper_leaves(demo_shop):
    agent = make_staff(demo_shop, Role.AGENT)
    scenario = Scenario.objects.get(shop=demo_shop, title="直爽型问尺码")
    session = services.do_start_session(agent, scenario)
    services.do_reply(agent, session, "您好")
    assert "尺码偏大还是偏小" in _shopper(session)[-1]  # asked again
    services.do_reply(agent, session, "稍等")
    session.refresh_from_db()
    assert session.status == SessionStatus.LEFT


def test_silence_makes_an_impatient_shopper_hurry_then_leave(demo_shop):
    agent = make_staff(demo_shop, Role.AGENT)
    scenario = Scenario.objects.get(shop=demo_shop, title="直爽型问尺码")
    start = timezone.now()
    session = services.do_start_session(agent, scenario, now=start)
    assert services.do_tick(agent, session, now=start + dt.timedelta(seconds=5)) == []
    hurried = services.do_tick(agent, session, now=start + dt.timedelta(seconds=40))
    assert [m.text for m in hurried] == ["在吗？？"]
    services.do_tick(agent, session, now=start + dt.timedelta(seconds=200))
    session.refresh_from_db()
    assert session.status == SessionStatus.LEFT


def test_a_bargainer_is_talked_round_by_a_gift_and_a_price_cut_costs_points(demo_shop):
    agent = make_staff(demo_shop, Role.AGENT)
    scenario = Scenario.objects.get(shop=demo_shop, title="精明型顾客砍价")
    session = services.do_start_session(agent, scenario)
    services.do_reply(agent, session, GOOD["包邮吗"])
    services.do_reply(agent, session, GOOD["什么时候发货"])
    cut = services.do_reply(agent, session, "那给您便宜20元吧")
    assert any("不要轻易让价" in r["text"] for r in cut.reasons)
    services.do_reply(agent, session, "亲，价格很实在了，现在下单送小礼品，还可以领店铺券哦～")
    session.refresh_from_db()
    assert session.status == SessionStatus.ORDERED


def test_feedback_shows_the_better_answer_from_the_knowledge(demo_shop):
    agent = make_staff(demo_shop, Role.AGENT)
    session = services.do_start_session(agent, Scenario.objects.get(shop=demo_shop, title="精明型顾客砍价"))
    wrong = services.do_reply(agent, session, "不包邮，运费20元")
    assert "59元" in wrong.better_answer
    assert wrong.score < 40


def test_training_never_touches_real_conversations_customers_or_orders(demo_shop):
    from xiaoer.events.models import OutboxEvent as Outbox
    from xiaoer.orders.models import Order

    agent = make_staff(demo_shop, Role.AGENT)
    before = (Conversation.objects.count(), Message.objects.count(), Customer.objects.count(),
              Order.objects.count(), Outbox.objects.count())
    session = services.do_start_session(agent, Scenario.objects.get(shop=demo_shop, title="犹豫型问面料"))
    services.do_reply(agent, session, "亲，这款面料做过抗起球处理，正常穿着不易起球哦～")
    services.do_end_session(agent, session)
    after = (Conversation.objects.count(), Message.objects.count(), Customer.objects.count(),
             Order.objects.count(), Outbox.objects.count())
    assert after == before


def test_roles_and_shops(demo_shop):
    agent = make_staff(demo_shop, Role.AGENT)
    other_agent = make_staff(demo_shop, Role.AGENT)
    lead = make_staff(demo_shop, Role.SUPERVISOR)
    with pytest.raises(PermissionDenied):
        services.do_create_scenario(agent, title="x", opening="在吗")
    with pytest.raises(PermissionDenied):
        services.scenarios(make_staff(demo_shop, Role.WAREHOUSE))
    session = services.do_start_session(agent, Scenario.objects.filter(shop=demo_shop).first())
    with pytest.raises(Http404):
        services.access_session(other_agent, session.pk)
    assert services.access_session(lead, session.pk) == session
    with pytest.raises(PermissionDenied):
        services.do_reply(lead, session, "您好")
    stranger = make_staff(make_shop(), Role.SUPERVISOR)
    with pytest.raises(Http404):
        services.access_session(stranger, session.pk)
    with pytest.raises(Http404):
        services.access_scenario(stranger, session.scenario_id)


def test_the_demo_seed_is_idempotent(demo_shop):
    count = Scenario.objects.filter(shop=demo_shop).count()
    training_demo.seed(demo_shop)
    assert Scenario.objects.filter(shop=demo_shop).count() == count == len(training_demo.STARTERS)
