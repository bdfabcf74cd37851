"""Any knowledge change (admin edits included) marks the shop's robot index stale."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from xiaoer.knowledge.models import Product, StandardAnswer


def _changed(sender, instance, **kwargs) -> None:
    from xiaoer.knowledge.services import bump_version

    bump_version(instance.shop_id)


def connect() -> None:
    for model in (Product, StandardAnswer):
        post_save.connect(_changed, sender=model, dispatch_uid=f"knowledge-changed-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"knowledge-deleted-{model.__name__}")
