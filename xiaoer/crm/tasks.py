"""crm's periodic work: the daily value + RFM rebuild of each shop (docs/customers.md "RFM"), and
birthday care (docs/customers-care.md).

Rebuild: hourly; a shop is rebuilt once its local time has reached RFM_REBUILD_HOUR (default 3) and its
snapshot is older than its local today. The rebuild also heals what the event projection cannot
see — an order moved to another buyer, a merge (docs/decisions/133-value-projection-and-daily-rebuild.md)."""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from xiaoer.accounts.models import Shop
from xiaoer.conf import int_setting
from xiaoer.crm import care, rfm
from xiaoer.crm.models import CustomerValue


def shops_due() -> list[Shop]:
    due = []
    for shop in Shop.objects.order_by("pk"):
        local = timezone.now().astimezone(rfm.shop_zone(shop))
        if local.hour < int_setting("RFM_REBUILD_HOUR", 3):
            continue
        latest = (CustomerValue.objects.filter(shop=shop, rfm_as_of__isnull=False)
                  .order_by("-rfm_as_of").values_list("rfm_as_of", flat=True).first())
        if latest is None or latest < local.date():
            due.append(shop)
    return due


def rebuild_due_shops() -> dict[str, int]:
    return {shop.slug: rfm.rebuild(shop) for shop in shops_due()}


@db_periodic_task(crontab(minute="7"))
def daily_value_rebuild() -> dict[str, int]:
    return rebuild_due_shops()


@db_periodic_task(crontab(minute="5"))
def birthday_care() -> int:
    """Hourly: each shop is greeted for on the first run inside its hours (decision 147)."""
    return care.run_birthday_care().greeted
