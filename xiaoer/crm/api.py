"""JSON API of crm: /api/crm/ (session auth). Levels and a customer's value (docs/customers.md)."""

from __future__ import annotations

from django.db import transaction
from ninja import Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.crm import services
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
