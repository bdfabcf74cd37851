"""Demo data of the customers pages (called by ``xiaoer demo`` through seed(shop)): a few tags on
the shop's buyers, a custom attribute, two VIP levels and a saved segment. Idempotent."""

from __future__ import annotations

from decimal import Decimal

from xiaoer.accounts.models import Shop
from xiaoer.crm import care_demo, hints_demo
from xiaoer.crm.models import LevelRule, Segment
from xiaoer.customers.models import CustomAttribute, Customer, CustomerTag, Tag

TAGS = (("老顾客", "#1677ff"), ("爱砍价", "#fa8c16"), ("大码", "#52c41a"))


def seed(shop: Shop) -> None:
    tags = [Tag.objects.get_or_create(shop=shop, name=name, defaults={"colour": colour})[0] for name, colour in TAGS]
    # the key the spotted "size worn" is confirmed into (crm.hints.BODY_ATTRIBUTES)
    CustomAttribute.objects.get_or_create(shop=shop, key="size_worn", defaults={"label": "常穿尺码", "kind": "text"})
    for level, name, threshold in ((1, "银卡", "200"), (2, "金卡", "1000")):
        LevelRule.objects.get_or_create(shop=shop, level=level, defaults={"name": name, "threshold": Decimal(threshold)})
    Segment.objects.get_or_create(shop=shop, name="老顾客", defaults={"filters": {"tag": tags[0].pk}})
    for n, customer in enumerate(Customer.objects.filter(shop=shop, buyer_id__isnull=False).order_by("pk")[:6]):
        CustomerTag.objects.get_or_create(customer=customer, tag=tags[n % len(tags)], defaults={"shop": shop})
    hints_demo.seed(shop)
    care_demo.seed(shop)  # coupons, questionnaires, birthday care
