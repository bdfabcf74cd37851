"""Demo data of coupons, questionnaires and birthday care (crm/demo.py calls seed(shop)): a coupon
batch issued to the first buyer, a short questionnaire they answered, birthday care switched on.
Idempotent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from xiaoer.accounts.models import Shop
from xiaoer.crm.models import (
    BirthdayGreeting,
    CareSettings,
    Coupon,
    CouponBatch,
    Question,
    Questionnaire,
    QuestionnaireResponse,
)
from xiaoer.customers.models import Customer


def seed(shop: Shop) -> None:
    now = timezone.now()
    batch, _ = CouponBatch.objects.get_or_create(shop=shop, name="问卷感谢券", defaults={
        "kind": "amount", "value": Decimal("10"), "threshold": Decimal("99"), "valid_days": 30})
    questionnaire, created = Questionnaire.objects.get_or_create(shop=shop, title="穿衣偏好小调查", defaults={
        "intro": "花一分钟告诉我们您的喜好，送您一张 10 元券", "coupon_batch": batch})
    if created:
        Question.objects.bulk_create([
            Question(questionnaire=questionnaire, position=1, text="您的性别", kind="single", choices=["女", "男"],
                     maps_to="gender", required=True),
            Question(questionnaire=questionnaire, position=2, text="您的生日", kind="date", maps_to="birthday"),
            Question(questionnaire=questionnaire, position=3, text="喜欢的风格", kind="multiple",
                     choices=["简约", "复古", "运动"]),
        ])
    CareSettings.objects.get_or_create(shop=shop, defaults={"birthday_enabled": True, "birthday_batch": batch})
    buyer = Customer.objects.filter(shop=shop, buyer_id__isnull=False).order_by("pk").first()
    if buyer is None:
        return
    coupon = Coupon.objects.filter(batch=batch, customer=buyer).first()
    if coupon is None:
        coupon = Coupon.objects.create(shop=shop, batch=batch, customer=buyer, code=f"DEMO{shop.pk:08d}"[:16],
                                       reason="questionnaire", rule=f"questionnaire:{questionnaire.pk}",
                                       issued_at=now, expires_at=now + dt.timedelta(days=30))
        CouponBatch.objects.filter(pk=batch.pk).update(issued_count=1)
    first = questionnaire.questions.order_by("position").first()
    QuestionnaireResponse.objects.get_or_create(questionnaire=questionnaire, customer=buyer, defaults={
        "shop": shop, "answers": {str(first.pk): "女"} if first else {}, "coupon": coupon, "submitted_at": now})
    BirthdayGreeting.objects.get_or_create(customer=buyer, year=now.year, defaults={
        "shop": shop, "channel": "sms", "notice_key": f"birthday-{buyer.pk}-{now.year}", "created_at": now})
