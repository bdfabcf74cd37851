"""JSON API of crm: /api/crm/ (session auth). Merging customers (docs/customers-import.md)."""

from __future__ import annotations

from django.db import transaction
from ninja import Field, Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.crm import identity

router = Router(tags=["crm"])


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
