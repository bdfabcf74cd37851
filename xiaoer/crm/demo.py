"""Demo data of crm (called by ``xiaoer demo`` and the cross-shop walk through seed(shop))."""

from __future__ import annotations

from xiaoer.accounts.models import Shop
from xiaoer.crm import care_demo


def seed(shop: Shop) -> None:
    care_demo.seed(shop)  # coupons, questionnaires, birthday care
