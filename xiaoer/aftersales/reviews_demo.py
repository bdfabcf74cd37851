"""Demo data of reviews and revisit campaigns: reply templates, a few reviews (a bad and a medium
one with their follow-ups) and a revisit campaign scheduled for tomorrow. Idempotent."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from xiaoer.accounts.models import Shop
from xiaoer.aftersales import reviews_services
from xiaoer.aftersales.models import Campaign, CampaignState, CampaignTarget, ReplyTemplate

TEMPLATES = (
    ("thanks", "感谢好评", "谢谢{buyer}的好评！{product}穿着开心，期待您再次光临～"),
    ("explain", "尺码说明", "{buyer}您好，{product}偏小一码，详情页有尺码表；不合适可以联系客服免费换货。"),
)
REVIEWS = (
    ("D-20001", "纯棉T恤 白色 L", "demo_buyer_1", "good", 5, "面料很舒服"),
    ("D-20002", "羊毛大衣 驼色 M", "demo_buyer_2", "bad", 1, "有点起球"),
    ("D-20003", "牛仔裤 蓝色 29", "demo_buyer_3", "medium", 3, "偏小一码"),
)


def seed(shop: Shop) -> None:
    for kind, title, text in TEMPLATES:
        ReplyTemplate.objects.get_or_create(shop=shop, kind=kind, title=title, defaults={"text": text})
    now = timezone.now()
    reviews_services.upsert_reviews(shop, [
        {"order_no": no, "product": product, "buyer_id": buyer, "rating": rating, "stars": stars, "text": text,
         "reviewed_at": now - dt.timedelta(days=2), "followup_text": ""}
        for no, product, buyer, rating, stars, text in REVIEWS])
    Campaign.objects.get_or_create(shop=shop, name="签收后回访", defaults={
        "target": CampaignTarget.PAID_NO_REVIEW, "message": "{name}您好，宝贝收到还满意吗？有问题随时找我们～",
        "starts_at": now + dt.timedelta(days=1), "state": CampaignState.SCHEDULED})
