"""Demo data of aftersales (also what the cross-shop and role walks seed into a shop); each area
has its own module."""

from __future__ import annotations

from xiaoer.accounts.models import Shop


def seed(shop: Shop) -> None:
    from xiaoer.aftersales import returns_demo, reviews_demo

    returns_demo.seed(shop)
    reviews_demo.seed(shop)
