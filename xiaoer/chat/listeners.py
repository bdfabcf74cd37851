"""The chat's live listeners: what it does right after other writes commit (registered in
ChatConfig.ready()). Each pushes to sockets through the hub, from any thread; a failure is logged
by the events delivery and never undoes the write."""

from __future__ import annotations

from xiaoer.accounts.events import SeatHandedOver, StaffAccessChanged
from xiaoer.chat import events, hub, services
from xiaoer.events import subscribe
from xiaoer.knowledge.events import NoticePublished

CONVERSATION_EVENTS = services.CONVERSATION_EVENTS


def push_conversation(event) -> None:
    """Staff lists get the conversation's new summary, its shopper their seat or queue place (once
    per conversation per commit: a later event of the same commit pushes instead)."""
    if not getattr(event, "superseded", False):
        hub.conversation_changed(event.conversation_id)


def push_seat_handover(event: SeatHandedOver) -> None:
    """Open workbenches reload which seats they act through: the person who lost the seat can no
    longer send for it, the one who got it hears its conversations at once; each of them gets a
    ``seats`` frame. Every staff socket of the shop gets an ``event`` ``seat`` (lists, loads), every
    shopper page a ``staffed`` event."""
    people = [x for x in (event.from_staff_id, event.to_staff_id) if x is not None]
    if people:
        hub.seats_changed(event.shop_id, people)
    hub.publish_event(event.shop_id, "seat", {"seat": event.seat_id, "operator": event.to_staff_id})
    services.tell_shoppers_staffed(event.shop_id)  # the seat's new operator may be online, or nobody


def apply_access_change(event: StaffAccessChanged) -> None:
    """A person who may no longer chat is cut off (every socket, every process: 4003); a role
    change between chat roles reloads what their sockets may see and send."""
    if event.can_chat:
        hub.seats_changed(event.shop_id, [event.staff_id])
    else:
        hub.staff_access_revoked([event.staff_id])


def register() -> None:
    for event_type in CONVERSATION_EVENTS:
        subscribe(event_type, push_conversation, name="chat.push_conversation", live=True)
    subscribe(events.MessagesCommitted, services.reopen_on_shopper_message, name="chat.reopen_on_message",
              live=True)
    subscribe(SeatHandedOver, push_seat_handover, name="chat.push_seat_handover", live=True)
    subscribe(StaffAccessChanged, apply_access_change, name="chat.apply_access_change", live=True)
    subscribe(NoticePublished, services.push_knowledge_notice, name="chat.push_knowledge_notice", live=True)
    # durable: a write (the greeting message), at least once, idempotent by its client id
    subscribe(events.ConversationAssigned, services.greet_on_assign, name="chat.greet_on_assign")
