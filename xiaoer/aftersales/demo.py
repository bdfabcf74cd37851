"""Demo data of aftersales (each area has its own module)."""

from __future__ import annotations

from xiaoer.accounts.models import Shop


def seed(shop: Shop) -> None:
    from xiaoer.aftersales import reviews_demo

    reviews_demo.seed(shop)
