"""Demo data for crm: attributes a demo shopper stated, waiting in the workbench side panel."""

from __future__ import annotations

from xiaoer.accounts.models import Shop
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation
from xiaoer.crm import hints
from xiaoer.crm.models import AttributeProposal

DEMO_TEXT = "我电话13800138000，平时穿M，身高165 体重110斤"


def seed(shop: Shop) -> None:
    """The shop's first conversation gets a shopper message stating a few attributes, and their
    proposals (made here rather than by the listener: the demo may run without a task worker)."""
    conversation = Conversation.objects.filter(shop=shop).order_by("pk").first()
    if conversation is None or AttributeProposal.objects.filter(customer_id=conversation.customer_id).exists():
        return
    message = writer.post_message_sync(conversation.pk, sender_kind="shopper", body=DEMO_TEXT,
                                       client_id=f"demo-crm-{conversation.pk}")
    hints.propose_from_text(shop.pk, conversation.customer_id, conversation.pk, message["id"], DEMO_TEXT)
