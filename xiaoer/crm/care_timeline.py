"""Coupons, questionnaire answers and birthday greetings on a customer's timeline
(xiaoer.crm.timeline providers, registered from crm's ready())."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from xiaoer.crm import coupons, questionnaires, timeline
from xiaoer.crm.models import BirthdayGreeting, Coupon, CouponReason, QuestionnaireResponse
from xiaoer.crm.timeline import Entry
from xiaoer.customers.models import Customer


def coupon_entries(customer: Customer, limit: int) -> Iterable[Entry]:
    """Each coupon issued (with its reason) and, separately, its redemption."""
    rows = (Coupon.objects.filter(customer=customer, shop_id=customer.shop_id)
            .select_related("batch", "order", "issued_by").order_by("-issued_at")[:limit])
    for coupon in rows:
        who = coupon.issued_by.display_name if coupon.issued_by else _("系统")
        yield Entry(at=coupon.issued_at, kind="coupon",
                    title=_("发券 · %(batch)s · %(reason)s") % {"batch": coupon.batch.name,
                                                              "reason": CouponReason(coupon.reason).label},
                    detail=f"{coupons.show_code(coupon.code)} · {who}")
        if coupon.order_id and coupon.redeemed_at:
            yield Entry(at=coupon.redeemed_at, kind="coupon",
                        title=_("用券 · %(batch)s") % {"batch": coupon.batch.name},
                        detail=_("订单 %(no)s") % {"no": coupon.order.order_no if coupon.order else "—"})


def questionnaire_entries(customer: Customer, limit: int) -> Iterable[Entry]:
    rows = (QuestionnaireResponse.objects.filter(customer=customer, shop_id=customer.shop_id)
            .select_related("questionnaire").order_by("-submitted_at")[:limit])
    for response in rows:
        pairs = questionnaires.answers_shown(response)
        yield Entry(at=response.submitted_at, kind="questionnaire",
                    title=_("填写问卷 · %(title)s") % {"title": response.questionnaire.title},
                    detail="；".join(f"{q}：{a}" for q, a in pairs)[:1000])


def birthday_entries(customer: Customer, limit: int) -> Iterable[Entry]:
    for greeting in BirthdayGreeting.objects.filter(customer=customer, shop_id=customer.shop_id).order_by(
            "-created_at")[:limit]:
        yield Entry(at=greeting.created_at, kind="birthday", title=_("生日关怀"),
                    detail=_("经%(channel)s发送") % {"channel": _("聊天") if greeting.channel == "chat" else _("短信")})


def care_events(customer: Customer, limit: int = 100) -> list[Entry]:
    """All of this area's entries for CUSTOMER, newest first (also usable without the timeline)."""
    entries = [*coupon_entries(customer, limit), *questionnaire_entries(customer, limit),
               *birthday_entries(customer, limit)]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def register_all() -> None:
    timeline.register("coupon", coupon_entries)
    timeline.register("questionnaire", questionnaire_entries)
    timeline.register("birthday", birthday_entries)
