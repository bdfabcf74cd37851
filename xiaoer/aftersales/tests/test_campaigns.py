"""Revisit campaigns: targets, chat else SMS, coupons, rate limit, quiet hours, results, and the
claim that keeps a customer from getting a campaign twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from xiaoer.aftersales import campaigns_services as campaigns
from xiaoer.aftersales.models import CampaignSend
from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.crm import listing
from xiaoer.crm.tests.carekit import SHANGHAI, CareWorld
from xiaoer.notify.models import Notice
from xiaoer.orders.models import Order

NOON = dt.datetime(2027, 3, 15, 12, 0, tzinfo=SHANGHAI)


@pytest.fixture
def w(db) -> CareWorld:
    return CareWorld()


def _delivered_order(w: CareWorld, buyer: str, paid_days_ago: int):
    order = w.order(buyer=buyer, created_at=NOON - dt.timedelta(days=paid_days_ago, hours=1),
                    paid_at=NOON - dt.timedelta(days=paid_days_ago), paid_amount="120")
    Order.objects.filter(pk=order.pk).update(delivered_at=NOON - dt.timedelta(days=paid_days_ago - 2))
    return order


def _campaign(w: CareWorld, **fields):
    values = {"name": "七天回访", "target": "paid_no_review", "message": "{name}您好，衣服还合身吗？{coupon}",
              "starts_at": NOON - dt.timedelta(hours=1), **fields}
    return campaigns.do_create_campaign(w.owner, **values)


def test_paid_delivered_unreviewed_buyers_get_chat_else_sms_with_a_coupon(w):
    chatty = w.customer("tb_chat", name="小雨")
    chat_services.get_or_create_conversation(w.shop, chatty)
    w.customer("tb_sms", phone="13900000001")
    w.customer("tb_too_new", phone="13900000002")
    w.customer("tb_unreachable")
    for buyer, days in (("tb_chat", 8), ("tb_sms", 13), ("tb_too_new", 3), ("tb_unreachable", 9)):
        _delivered_order(w, buyer, days)
    batch = w.batch(name="回访券")
    campaign = _campaign(w, coupon_batch_id=batch.pk)
    run = campaigns.run_campaign(campaign, now=NOON, deliver=False)
    assert run.sent == 2
    sends = {s.customer.buyer_id: s for s in CampaignSend.objects.filter(campaign=campaign).select_related("customer")}
    assert set(sends) == {"tb_chat", "tb_sms"}
    assert sends["tb_chat"].channel == "chat" and sends["tb_sms"].channel == "sms"
    notice = Notice.objects.get(key=f"revisit-{campaign.pk}-{chatty.pk}")
    assert notice.body.startswith("小雨您好，衣服还合身吗？送您一张优惠券")
    assert sends["tb_chat"].coupon.reason == "revisit"
    again = campaigns.run_campaign(campaign, now=NOON + dt.timedelta(minutes=5), deliver=False)
    assert again.sent == 0
    assert Notice.objects.filter(key__startswith=f"revisit-{campaign.pk}-").count() == 2
    assert campaigns.results(campaign)["sent"] == 2 and campaigns.results(campaign)["coupons_issued"] == 2


def test_segment_target_rate_limit_and_quiet_hours(w):
    for i in range(5):
        w.customer(f"tb_seg_{i}", phone=f"1380000000{i}", city="杭州")
    segment = listing.do_save_segment(w.owner, "杭州客户", listing.check_filters(w.shop, {"city": "杭州"}))
    campaign = _campaign(w, target="segment", segment_id=segment.pk, rate_per_minute=2)
    night = dt.datetime(2027, 3, 15, 23, 30, tzinfo=SHANGHAI)
    assert campaigns.run_campaign(campaign, now=night, deliver=False).skipped_quiet
    assert not CampaignSend.objects.exists()
    assert campaigns.run_campaign(campaign, now=NOON, deliver=False).sent == 2
    assert campaigns.run_campaign(campaign, now=NOON + dt.timedelta(seconds=20), deliver=False).sent == 0
    sent = [campaigns.run_campaign(campaign, now=NOON + dt.timedelta(minutes=m), deliver=False).sent
            for m in (2, 4, 6)]
    assert sent == [2, 1, 0]
    campaign.refresh_from_db()
    assert campaign.state == "done"
    assert CampaignSend.objects.filter(campaign=campaign).values("customer").distinct().count() == 5


def test_bad_campaigns_and_roles_are_refused(w):
    with pytest.raises(ValidationError):
        _campaign(w, rate_per_minute=0)
    with pytest.raises(ValidationError):
        _campaign(w, message="x" * 501)
    with pytest.raises(PermissionDenied):
        campaigns.do_create_campaign(w.agent, name="a", target="paid_no_review", message="m", starts_at=NOON)


def test_results_count_replies_and_orders_after(w):
    chatty = w.customer("tb_chat", name="小雨")
    conversation = chat_services.get_or_create_conversation(w.shop, chatty)
    _delivered_order(w, "tb_chat", 8)
    campaign = _campaign(w)
    campaigns.run_campaign(campaign, now=NOON, deliver=False)
    CampaignSend.objects.filter(campaign=campaign).update(sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert campaigns.results(campaign)["replied"] == 0
    writer.post_message_sync(conversation.id, sender_kind="shopper", body="挺合身的，谢谢")
    w.order(buyer="tb_chat")
    figures = campaigns.results(campaign)
    assert figures["sent"] == 1 and figures["replied"] == 1 and figures["reply_rate"] == 1.0
    assert figures["ordered_within_days"] == 1
