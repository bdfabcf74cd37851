"""Huey tasks of revisit campaigns: a pass every minute over the started campaigns, and one
campaign's pass on demand. Both idempotent: the claim rows make a repeat or a concurrent run
harmless (decision 193). Registered by AftersalesConfig.ready()."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from xiaoer.aftersales import campaigns_services
from xiaoer.aftersales.models import Campaign


@db_periodic_task(crontab(minute="*"))
def revisit_campaigns_every_minute() -> int:
    return sum(run.sent for run in campaigns_services.run_due_campaigns())


@db_task()
def run_campaign_task(campaign_id: int) -> int:
    campaign = Campaign.objects.select_related("shop").filter(pk=campaign_id).first()
    return campaigns_services.run_campaign(campaign).sent if campaign else 0
