"""Chat conversation events (docs/events.md): each change of a conversation's seat or status is in
the outbox, in order, with who did it; the live pushes follow the commit."""

from __future__ import annotations

import pytest

from xiaoer.accounts.models import Role
from xiaoer.chat import hub, services, writer
from xiaoer.events.models import OutboxEvent
from xiaoer.testing import make_seat, make_shop, make_staff, shopper_arrives

pytestmark = pytest.mark.django_db

CONVERSATION_EVENTS = ("chat.ConversationOpened", "chat.ConversationAssigned", "chat.ConversationTransferred",
                       "chat.ConversationResolved", "chat.ConversationReopened")


def _conversation_events(conv_id: int) -> list[tuple]:
    rows = OutboxEvent.objects.filter(name__in=CONVERSATION_EVENTS).order_by("id")
    out = []
    for row in rows:
        p = dict(row.payload)
        if p.pop("conversation_id") != conv_id:
            continue
        p.pop("shop_id")
        out.append((row.name.split(".")[1], p))
    return out


def test_a_conversations_life_is_in_the_outbox(django_capture_on_commit_callbacks, monkeypatch):
    changed: list[int] = []
    monkeypatch.setattr(hub, "conversation_changed", changed.append)
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    lead = make_staff(shop, role=Role.SUPERVISOR)
    seat_a = make_seat(shop, "小美", operator=alice)
    seat_b = make_seat(shop, "小雪", operator=bob, online=False)

    with django_capture_on_commit_callbacks(execute=True):
        conv = services.start_shopper_session(shop).conversation  # a visitor: not a conversation yet
        writer.post_message_sync(conv.pk, sender_kind="shopper", body="在吗")  # opened, routed to 小美
    with django_capture_on_commit_callbacks(execute=True):
        services.do_transfer(alice, conv, seat_b, "尺码问题")
    with django_capture_on_commit_callbacks(execute=True):
        services.do_resolve(bob, conv)
    with django_capture_on_commit_callbacks(execute=True):
        writer.post_message_sync(conv.pk, sender_kind="shopper", body="还有个问题")  # reopens (queue)
    conv.refresh_from_db()
    assert conv.status == "open" and conv.seat == seat_a  # routed again: 小雪 is offline
    with django_capture_on_commit_callbacks(execute=True):
        services.do_resolve(alice, conv)
    with django_capture_on_commit_callbacks(execute=True):
        services.do_reopen(lead, conv)

    assert _conversation_events(conv.pk) == [
        ("ConversationOpened", {"customer_id": conv.customer_id}),
        ("ConversationAssigned", {"seat_id": seat_a.pk, "how": "route", "staff_id": None}),
        ("ConversationTransferred", {"from_seat_id": seat_a.pk, "to_seat_id": seat_b.pk, "staff_id": alice.pk}),
        ("ConversationResolved", {"seat_id": seat_b.pk, "staff_id": bob.pk}),
        ("ConversationReopened", {"seat_id": None, "staff_id": None}),  # the shopper wrote into it
        ("ConversationAssigned", {"seat_id": seat_a.pk, "how": "route", "staff_id": None}),
        ("ConversationResolved", {"seat_id": seat_a.pk, "staff_id": alice.pk}),
        ("ConversationReopened", {"seat_id": seat_a.pk, "staff_id": lead.pk}),
    ]
    # One live push per conversation per commit: opened+routed and reopened+routed push once each.
    assert changed == [conv.pk] * 6


def test_claim_is_an_assignment_by_that_person():
    shop = make_shop()
    alice = make_staff(shop)
    seat = make_seat(shop, operator=alice, online=False)
    conv = shopper_arrives(shop).conversation  # queued: the only seat is offline
    services.do_claim(alice, conv, seat)
    assert _conversation_events(conv.pk)[-1] == (
        "ConversationAssigned", {"seat_id": seat.pk, "how": "claim", "staff_id": alice.pk})


def test_nothing_is_emitted_when_the_write_rolls_back():
    from django.db import transaction

    shop = make_shop()
    alice = make_staff(shop)
    make_seat(shop, operator=alice)
    conv = shopper_arrives(shop).conversation
    before = OutboxEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.do_resolve(alice, conv)
        raise RuntimeError("the edge's unit of work failed")
    assert OutboxEvent.objects.count() == before
