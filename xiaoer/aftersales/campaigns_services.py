"""Revisit campaigns (回访): targets, the exactly-once send, the rate limit, quiet hours, results.

Never twice to a customer in one campaign, whatever crashes (decision 193): each send inserts a
CampaignSend row — unique (campaign, customer) — and queues its notice (key
``revisit-<campaign>-<customer>``, delivered at most once by xiaoer/notify) in ONE transaction. A
process killed before the commit leaves neither (a later run sends); after it, both (nobody sends
again). Two workers at once: the loser's insert fails on the unique constraint.
docs/reviews-and-revisits.md."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts.models import Staff
from xiaoer.accounts.services import SUPERVISOR_ROLES, require_role
from xiaoer.aftersales.models import Campaign, CampaignSend, CampaignState, CampaignTarget, Review
from xiaoer.chat.models import Conversation, Message, SenderKind
from xiaoer.crm import coupons, listing
from xiaoer.crm.models import Coupon, CouponKind, CouponReason
from xiaoer.customers.models import Customer
from xiaoer.notify import services as notify_services
from xiaoer.notify import texts
from xiaoer.notify.models import Channel, Notice, NoticeStatus
from xiaoer.orders.models import Order
from xiaoer.orders.services import in_quiet_hours

log = logging.getLogger(__name__)
MAX_RATE = 6000


def notice_key(campaign: Campaign, customer_id: int) -> str:
    return f"revisit-{campaign.pk}-{customer_id}"


# ---- setting up ----------------------------------------------------------------------------


def do_create_campaign(staff: Staff, *, name: str, target: str, message: str, starts_at: dt.datetime,
                       segment_id: int | None = None, coupon_batch_id: int | None = None,
                       rate_per_minute: int = 60, orders_within_days: int = 7) -> Campaign:
    """A scheduled campaign; it goes out from STARTS_AT on the next runs of the periodic task."""
    require_role(staff, SUPERVISOR_ROLES)
    name, message = (name or "").strip(), (message or "").strip()
    if not name or len(name) > 50:
        raise ValidationError(_("活动名称必填，最多 50 字"))
    if not message or len(message) > 500:
        raise ValidationError(_("消息内容必填，最多 500 字"))
    if target not in CampaignTarget.values:
        raise ValidationError(_("未知的目标客户"))
    if not 1 <= int(rate_per_minute) <= MAX_RATE:
        raise ValidationError(_("发送速度必须在 1 到 %(max)s 条/分钟之间") % {"max": MAX_RATE})
    if not 1 <= int(orders_within_days) <= 90:
        raise ValidationError(_("统计下单的天数必须在 1 到 90 之间"))
    segment = listing.access_segment(staff, segment_id) if target == CampaignTarget.SEGMENT else None
    batch = coupons.access_batch(staff, coupon_batch_id) if coupon_batch_id else None
    with transaction.atomic(savepoint=False):
        return Campaign.objects.create(
            shop_id=staff.shop_id, name=name, target=target, segment=segment, message=message, coupon_batch=batch,
            starts_at=starts_at, rate_per_minute=rate_per_minute, orders_within_days=orders_within_days,
            state=CampaignState.SCHEDULED, created_by=staff)


def do_stop_campaign(staff: Staff, campaign: Campaign) -> Campaign:
    require_role(staff, SUPERVISOR_ROLES)
    with transaction.atomic(savepoint=False):
        Campaign.objects.filter(pk=campaign.pk, state=CampaignState.SCHEDULED).update(
            state=CampaignState.STOPPED, finished_at=timezone.now())
    campaign.refresh_from_db()
    return campaign


def access_campaign(staff: Staff, campaign_id) -> Campaign:
    require_role(staff, SUPERVISOR_ROLES)
    try:
        return Campaign.objects.get(pk=int(campaign_id), shop_id=staff.shop_id)
    except (Campaign.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("campaign not found") from None


def campaigns_of(staff: Staff) -> list[Campaign]:
    require_role(staff, SUPERVISOR_ROLES)
    return list(Campaign.objects.filter(shop_id=staff.shop_id).order_by("-created_at")[:200])


# ---- targets -------------------------------------------------------------------------------


def targets(campaign: Campaign, now: dt.datetime) -> QuerySet[Customer]:
    """The campaign's customers not yet sent to, in id order."""
    shop = campaign.shop
    if campaign.target == CampaignTarget.SEGMENT:
        if campaign.segment is None:
            return Customer.objects.none()
        people = listing.customers(shop, campaign.segment.filters)
    else:
        reviewed = Review.objects.filter(shop=shop, order_no=OuterRef("order_no"))
        orders = (Order.objects.filter(shop=shop, buyer__isnull=False, delivered_at__isnull=False,
                                       paid_at__gte=now - dt.timedelta(days=14), paid_at__lt=now - dt.timedelta(days=7))
                  .exclude(Exists(reviewed)))
        people = Customer.objects.filter(shop=shop, pk__in=orders.values("buyer_id"))
    sent = CampaignSend.objects.filter(campaign=campaign, customer=OuterRef("pk"))
    return (people.filter(shop=shop, merged_into__isnull=True, anonymised_at__isnull=True)
            .exclude(Exists(sent)).order_by("pk"))


def _contact(customer: Customer) -> tuple[str, str, int | None] | None:
    """Chat when the shopper has a conversation with the shop, else SMS to their phone, else None."""
    conv_id = (Conversation.objects.filter(shop_id=customer.shop_id, customer=customer)
               .order_by("created_at", "id").values_list("id", flat=True).first())
    if conv_id:
        return Channel.CHAT, str(conv_id), conv_id
    if customer.phone:
        return Channel.SMS, customer.phone, None
    return None


# ---- sending -------------------------------------------------------------------------------


def _coupon_text(coupon: Coupon) -> str:
    batch = coupon.batch
    amount = (_("%(v)s 元") % {"v": batch.value}) if batch.kind == CouponKind.AMOUNT else \
        (_("%(v)s%% 折扣") % {"v": batch.value.normalize()})
    return _("送您一张优惠券（%(amount)s），券码 %(code)s。") % {"amount": amount, "code": coupons.show_code(coupon.code)}


def send_one(campaign: Campaign, customer: Customer, now: dt.datetime, *, deliver: bool = True) -> bool:
    """Claim CUSTOMER in CAMPAIGN and queue the message, in one transaction. True when this call
    sent; False when somebody already did or the customer is unreachable (not claimed)."""
    contact = _contact(customer)
    if contact is None:
        return False
    channel, recipient, conv_id = contact
    key = notice_key(campaign, customer.pk)
    with transaction.atomic():
        try:
            with transaction.atomic():
                claim = CampaignSend.objects.create(shop_id=campaign.shop_id, campaign=campaign, customer=customer,
                                                    channel=channel, conversation_id_ref=conv_id, notice_key=key,
                                                    sent_at=now)
        except IntegrityError:
            return False  # another run or worker has it
        coupon = _coupon(campaign, customer, now)
        body = texts.render(campaign.message, {"name": customer.name or _("亲"), "shop": campaign.shop.name,
                                               "coupon": _coupon_text(coupon) if coupon else ""})
        notify_services.do_queue_notices([notify_services.build_notice(
            campaign.shop, key=key, channel=channel, template="revisit", body=body.strip()[:notify_services.MAX_BODY],
            recipient=recipient, conversation_id=conv_id, now=now)], deliver=deliver)
        if coupon is not None:
            CampaignSend.objects.filter(pk=claim.pk).update(coupon=coupon)
    return True


def _coupon(campaign: Campaign, customer: Customer, now: dt.datetime) -> Coupon | None:
    if campaign.coupon_batch_id is None:
        return None
    try:
        with transaction.atomic():  # a used-up batch still sends, without a coupon
            coupon, _created = coupons.do_issue_coupon(None, campaign.coupon_batch, customer,
                                                       reason=CouponReason.REVISIT, rule=f"revisit:{campaign.pk}",
                                                       now=now)
    except ValidationError as exc:
        log.info("revisit coupon for customer %s not issued: %s", customer.pk, exc)
        return None
    return coupon


@dataclass
class CampaignRun:
    campaign_id: int
    sent: int = 0
    skipped_quiet: bool = False
    done: bool = False


def run_campaign(campaign: Campaign, *, now: dt.datetime | None = None, deliver: bool = True,
                 limit: int | None = None) -> CampaignRun:
    """One pass of CAMPAIGN: up to its rate (sends of the last minute count) unless it is too early
    or the shop's quiet hours. Safe to run anywhere, any number of times, at once."""
    now = now or timezone.now()
    run = CampaignRun(campaign.pk)
    if campaign.state != CampaignState.SCHEDULED or now < campaign.starts_at:
        return run
    if in_quiet_hours(campaign.shop, now):
        run.skipped_quiet = True
        return run
    recent = CampaignSend.objects.filter(campaign=campaign, sent_at__gt=now - dt.timedelta(minutes=1)).count()
    budget = max(0, campaign.rate_per_minute - recent) if limit is None else limit
    people = list(targets(campaign, now)[:budget * 2 + 10]) if budget else []
    for customer in people:
        if run.sent >= budget:
            break
        try:
            run.sent += send_one(campaign, customer, now, deliver=deliver)
        except Exception:  # one customer's failure must not stop the campaign; the next run retries
            log.exception("revisit of customer %s in campaign %s failed", customer.pk, campaign.pk)
    if budget and not targets(campaign, now).exists():
        Campaign.objects.filter(pk=campaign.pk, state=CampaignState.SCHEDULED).update(
            state=CampaignState.DONE, finished_at=now)
        run.done = True
    return run


def run_due_campaigns(*, now: dt.datetime | None = None) -> list[CampaignRun]:
    """The periodic task's pass over every scheduled campaign that has started."""
    now = now or timezone.now()
    due = Campaign.objects.filter(state=CampaignState.SCHEDULED, starts_at__lte=now).select_related("shop")
    return [run_campaign(c, now=now) for c in due]


# ---- results -------------------------------------------------------------------------------


def results(campaign: Campaign) -> dict:
    """sent, delivered (notice sent), replied (a shopper message in the conversation after the
    send; reply rate = replied / chat sends), coupons redeemed, customers ordering within N days."""
    sends = CampaignSend.objects.filter(campaign=campaign)
    sent = sends.count()
    delivered = Notice.objects.filter(key__in=sends.values("notice_key"), status=NoticeStatus.SENT).count()
    chat = sends.filter(channel=Channel.CHAT)
    replied = chat.filter(Exists(Message.objects.filter(
        conversation_id=OuterRef("conversation_id_ref"), sender_kind=SenderKind.SHOPPER,
        created_at__gt=OuterRef("sent_at")))).count()
    redeemed = Coupon.objects.filter(pk__in=sends.values("coupon_id"), redeemed_at__isnull=False).count()
    ordered = sends.filter(Exists(Order.objects.filter(
        shop_id=campaign.shop_id, buyer_id=OuterRef("customer_id"), created_at__gt=OuterRef("sent_at"),
        created_at__lte=OuterRef("sent_at") + dt.timedelta(days=campaign.orders_within_days)))).count()
    chat_count = chat.count()
    return {"sent": sent, "delivered": delivered, "chat": chat_count, "sms": sent - chat_count,
            "replied": replied, "reply_rate": round(replied / chat_count, 4) if chat_count else None,
            "coupons_issued": sends.filter(coupon__isnull=False).count(), "coupons_redeemed": redeemed,
            "ordered_within_days": ordered, "orders_within_days": campaign.orders_within_days,
            "state": campaign.state}
