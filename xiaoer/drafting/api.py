"""Drafting JSON API (mounted at /api/drafting/)."""

from __future__ import annotations

from django.db import transaction
from ninja import Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.drafting import services

router = Router(tags=["drafting"])


class RewriteIn(Schema):
    text: str
    style: str  # friendlier, shorter, formal, translate
    language: str = "en"


def _log(staff, call: dict | None, conversation_id: int | None, purpose: str) -> None:
    if call is not None:
        with transaction.atomic():
            services.log_call(staff.shop_id, purpose=purpose, conversation_id=conversation_id, staff=staff, **call)


@router.post("/conversations/{conversation_id}/draft")
def draft(request, conversation_id: int):
    """A draft for the conversation's latest shopper message, grounded and checked (whole, not streamed)."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    out, call = services.draft(staff, conversation_id)
    _log(staff, call, conversation_id, "draft")
    return out


@router.post("/rewrite")
def rewrite(request, data: RewriteIn):
    """TEXT friendlier, shorter, more formal or translated; unchanged when the model fails."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    out, call = services.rewrite(staff, data.text, data.style[:20], data.language[:5])
    _log(staff, call, None, "rewrite")
    return out
