"""End to end through the chat's own write path: a committed shopper message gets a suggestion."""

from __future__ import annotations

import pytest

from xiaoer.assistant import services
from xiaoer.assistant.engine import DATA
from xiaoer.assistant.models import Suggestion
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.knowledge import services as knowledge_services
from xiaoer.testing import make_shop


@pytest.mark.django_db(transaction=True)
def test_committed_shopper_message_gets_a_suggestion(monkeypatch):
    from xiaoer.chat import hub

    pushed = []
    monkeypatch.setattr(hub, "publish_event", lambda *a, **kw: pushed.append((a, kw)))
    shop = make_shop()
    knowledge_services.import_file(shop, "answers", (DATA / "kb_clothing.csv").read_bytes(), "kb.csv")
    customer = Customer.objects.create(shop=shop, name="小李", buyer_id="b1")
    conv = Conversation.objects.create(shop=shop, customer=customer)
    writer.post_message_sync(conv.id, sender_kind="shopper", body="几天能发货呀")  # live listener on commit
    services.WORKER.wait_idle()
    suggestion = Suggestion.objects.get(conversation=conv)
    assert suggestion.intent == "shipping" and suggestion.top_code == "C19"
    assert any(a[1] == "suggestion" and kw.get("conversation_id") == conv.id for a, kw in pushed)
