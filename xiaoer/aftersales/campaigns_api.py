"""JSON API of revisit campaigns: /api/aftersales/campaigns… (session auth; supervisors and the
owner). docs/reviews-and-revisits.md."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from ninja import Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.aftersales import campaigns_services as services
from xiaoer.aftersales.models import Campaign

router = Router(tags=["campaigns"])


def campaign_json(campaign: Campaign, *, with_results: bool = False) -> dict:
    data = {"id": campaign.id, "name": campaign.name, "target": campaign.target, "segment_id": campaign.segment_id,
            "message": campaign.message, "coupon_batch_id": campaign.coupon_batch_id,
            "starts_at": campaign.starts_at, "rate_per_minute": campaign.rate_per_minute,
            "orders_within_days": campaign.orders_within_days, "state": campaign.state,
            "finished_at": campaign.finished_at}
    if with_results:
        data["results"] = services.results(campaign)
    return data


@router.get("/campaigns")
def list_campaigns(request):
    staff = account_services.staff_of(request)
    return {"campaigns": [campaign_json(c) for c in services.campaigns_of(staff)]}


class CampaignIn(Schema):
    name: str
    target: str
    message: str
    starts_at: dt.datetime
    segment_id: int | None = None
    coupon_batch_id: int | None = None
    rate_per_minute: int = 60
    orders_within_days: int = 7


@router.post("/campaigns")
def create_campaign(request, body: CampaignIn):
    with transaction.atomic():
        staff = account_services.staff_of(request)
        campaign = services.do_create_campaign(staff, **body.dict())
        return campaign_json(campaign)


@router.get("/campaigns/{int:campaign_id}")
def get_campaign(request, campaign_id: int):
    staff = account_services.staff_of(request)
    return campaign_json(services.access_campaign(staff, campaign_id), with_results=True)


@router.post("/campaigns/{int:campaign_id}/stop")
def stop_campaign(request, campaign_id: int):
    with transaction.atomic():
        staff = account_services.staff_of(request)
        return campaign_json(services.do_stop_campaign(staff, services.access_campaign(staff, campaign_id)))


@router.post("/campaigns/{int:campaign_id}/run")
def run_now(request, campaign_id: int):
    """Queue one pass now (besides the every-minute task); idempotent, rate and quiet hours hold."""
    from xiaoer.aftersales.campaigns_tasks import run_campaign_task

    staff = account_services.staff_of(request)
    campaign = services.access_campaign(staff, campaign_id)
    transaction.on_commit(lambda: run_campaign_task(campaign.pk))
    return {"queued": True}
