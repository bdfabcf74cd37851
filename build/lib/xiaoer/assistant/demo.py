"""Demo knowledge for the demo shop: the clothing knowledge base, four products with size charts,
quick phrases, and the robot in suggest mode. Called by the demo command (``seed(shop)``);
running it twice changes nothing (imports update by id)."""

from __future__ import annotations

from django.db import transaction

from xiaoer.accounts.models import Shop
from xiaoer.assistant import services
from xiaoer.assistant.engine import DATA
from xiaoer.assistant.models import RobotMode
from xiaoer.knowledge import services as knowledge_services


@transaction.atomic
def seed(shop: Shop) -> dict:
    counts = {}
    for kind, name in (("products", "products_clothing.csv"), ("answers", "kb_clothing.csv"),
                       ("phrases", "phrases_demo.csv")):
        result = knowledge_services.import_file(shop, kind, (DATA / name).read_bytes(), name)
        if not result.imported:
            raise RuntimeError(f"demo data {name} is broken: {[str(e) for e in result.errors]}")
        counts[kind] = result.created + result.updated
    cfg = services.settings_for(shop.id)
    if cfg.mode == RobotMode.OFF:
        cfg.mode = RobotMode.SUGGEST
        cfg.save(update_fields=["mode"])
    return counts
