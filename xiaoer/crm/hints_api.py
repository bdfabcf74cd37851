"""crm JSON API (mounted at /api/crm/): attributes spotted in chat, shopper types and their tips."""

from __future__ import annotations

from django.db import transaction
from ninja import Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.crm import hints
from xiaoer.crm.models import AttributeProposal
from xiaoer.customers import services as customer_services

router = Router(tags=["crm"])


def _proposal_json(staff, p: AttributeProposal) -> dict:
    value, excerpt = hints.shown(staff, p)
    confirmed = p.confirmed_value
    if p.kind == "phone" and confirmed and not account_services.sees_whole_phone(staff):
        confirmed = account_services.mask_phone(confirmed)
    return {"id": p.pk, "customer": p.customer_id, "kind": p.kind, "kind_label": p.get_kind_display(),
            "value": value, "parts": p.parts if p.kind != "phone" else {}, "conversation": p.conversation_id, "message": p.message_id,
            "excerpt": excerpt, "state": p.state, "confirmed_value": confirmed,
            "decided_by": p.decided_by_id, "decided_at": p.decided_at.isoformat() if p.decided_at else None,
            "created_at": p.created_at.isoformat()}


@router.get("/customers/{customer_id}/proposals")
def proposals(request, customer_id: int, state: str = "proposed"):
    """A customer's spotted attributes (state: proposed, confirmed or dismissed)."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    customer = customer_services.access_customer(staff, customer_id)
    rows = AttributeProposal.objects.filter(customer=customer, shop_id=staff.shop_id, state=state[:10])[:100]
    return [_proposal_json(staff, p) for p in rows]


class ConfirmIn(Schema):
    value: str | None = None  # the agent's edit; absent: the value as spotted


@router.post("/proposals/{proposal_id}/confirm")
def confirm(request, proposal_id: int, data: ConfirmIn):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    with transaction.atomic():
        proposal = hints.do_confirm_proposal(staff, hints.access_proposal(staff, proposal_id),
                                                None if data.value is None else data.value[:1000])
    return _proposal_json(staff, proposal)


@router.post("/proposals/{proposal_id}/dismiss")
def dismiss(request, proposal_id: int):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    with transaction.atomic():
        proposal = hints.do_dismiss_proposal(staff, hints.access_proposal(staff, proposal_id))
    return _proposal_json(staff, proposal)


@router.get("/customers/{customer_id}/shopper-type")
def shopper_type(request, customer_id: int):
    """The type the agent set (with the shop's tips for it) and the system's suggestion."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    customer = customer_services.access_customer(staff, customer_id)
    suggestion = hints.suggest_type(customer)
    return {"shopper_type": customer.shopper_type,
            "tips": hints.tips_for(staff.shop_id)[customer.shopper_type] if customer.shopper_type else "",
            "suggestion": {"shopper_type": suggestion.shopper_type, "label": suggestion.label,
                           "reason": suggestion.reason} if suggestion else None}


class TypeIn(Schema):
    shopper_type: str  # one of customers.models.ShopperType, or "" to clear


@router.put("/customers/{customer_id}/shopper-type")
def set_shopper_type(request, customer_id: int, data: TypeIn):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    with transaction.atomic():
        customer = hints.do_set_shopper_type(staff, customer_services.access_customer(staff, customer_id),
                                                data.shopper_type[:12])
    return {"shopper_type": customer.shopper_type}


@router.get("/shopper-type-tips")
def tips(request):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    own = hints.customised_types(staff.shop_id)
    return [{"shopper_type": t, "tips": text, "customised": t in own}
            for t, text in hints.tips_for(staff.shop_id).items()]


class TipIn(Schema):
    shopper_type: str
    tips: str  # empty: back to our default


@router.put("/shopper-type-tips")
def save_tip(request, data: TipIn):
    """A supervisor's or owner's tips for one type (empty: back to the defaults)."""
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    shopper_type = data.shopper_type[:12]
    with transaction.atomic():
        hints.do_save_tip(staff, shopper_type, data.tips[:5000])
    return {"shopper_type": shopper_type, "tips": hints.tips_for(staff.shop_id)[shopper_type]}
