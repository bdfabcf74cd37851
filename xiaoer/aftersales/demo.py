"""Demo data of aftersales (also what the cross-shop and role walks seed into a shop)."""

from __future__ import annotations


def seed(shop) -> None:
    from xiaoer.aftersales import returns_demo

    returns_demo.seed(shop)
