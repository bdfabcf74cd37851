"""Robot JSON API (mounted at /api/assistant/)."""

from __future__ import annotations

from ninja import Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.assistant import services
from xiaoer.knowledge import services as knowledge_services

router = Router(tags=["assistant"])


class SuggestIn(Schema):
    text: str
    conversation_id: int | None = None
    product: str = ""


@router.post("/suggest")
def suggest(request, data: SuggestIn):
    """Suggestions for any text, in a conversation's context (product, variables, the turns so far) when given."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    text = data.text[:5000]
    product, values, context = None, {}, None
    if data.conversation_id is not None:
        conversation = services.access_conversation(staff, data.conversation_id)
        product = services.conversation_product(conversation)
        values = services.variable_values(conversation)
        context = services.conversation_context(conversation)  # the text read after the conversation so far
    if data.product:
        product = knowledge_services.product_by_code(staff.shop_id, data.product[:64]) or product
    return services.suggest_for_text(staff.shop_id, text, product=product, values=values, context=context)


@router.get("/conversations/{conversation_id}/suggestion")
def latest(request, conversation_id: int):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    _conversation, suggestion = services.panel_suggestion(staff, conversation_id)
    return suggestion or {}
