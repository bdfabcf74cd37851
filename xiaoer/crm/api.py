"""JSON API of crm: /api/crm/ (session auth). Levels and a customer's value (docs/customers.md);
merging customers (docs/customers-import.md)."""

from __future__ import annotations

from django.db import transaction
from ninja import Field, Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.crm import identity, services
from xiaoer.crm.models import LevelRule

router = Router(tags=["crm"])


class LevelIn(Schema):
    name: str
    basis: str = "total_paid"
    threshold: str


class LevelsIn(Schema):
    levels: list[LevelIn]


def level_json(rule: LevelRule) -> dict:
    return {"level": rule.level, "name": rule.name, "basis": rule.basis, "threshold": f"{rule.threshold:.2f}"}


@router.get("/levels")
def list_levels(request):
    staff = account_services.staff_of(request)
    return {"levels": [level_json(r) for r in services.levels_of(staff)]}


@router.put("/levels")
def set_levels(request, payload: LevelsIn):
    staff = account_services.staff_of(request)
    with transaction.atomic():
        saved = services.do_set_levels(staff, [level.dict() for level in payload.levels[:services.MAX_LEVELS + 1]])
    return {"levels": [level_json(r) for r in saved]}


@router.get("/customers/{int:customer_id}/value")
def customer_value(request, customer_id: int):
    staff = account_services.staff_of(request)
    return services.value_of(staff, customer_id)


class MergeIn(Schema):
    other: str = Field(max_length=100)  # the customer merged in: its id, buyer id or visitor id


@router.post("/customers/{int:customer_id}/merge")
def merge_customers(request, customer_id: int, body: MergeIn):
    """Merge the customer OTHER into CUSTOMER_ID (supervisors and owners); idempotent."""
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request)
        kept = identity.access_customer_for(staff, customer_id, identity.MERGE_ROLES)
        result = identity.do_merge_customers(staff, kept, identity.find_customer(staff, body.other))
        return {"kept_id": result.kept.pk, "merged_id": result.merged.pk, "already": result.already,
                "buyer_id": result.kept.buyer_id}
