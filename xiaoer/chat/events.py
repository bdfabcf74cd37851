"""Domain events of the chat (fields: docs/events.md).

Emitted in the transaction of the write they describe; listeners subscribe in their own app's
``AppConfig.ready()`` (``xiaoer.events.subscribe``). The chat never imports a listening app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from xiaoer.events import Event

# Columns of one row of MessagesCommitted.messages and .conversations (kept as lists: the outbox
# stores one row per writer batch, so its payload stays small whatever the batch size).
MESSAGE_ROW = ("conversation", "seq", "id", "sender_kind", "internal", "staff", "seat")
CONVERSATION_ROW = ("conversation", "shop", "seat", "status")


@dataclass(frozen=True, kw_only=True)
class MessagesCommitted(Event):
    """One writer batch committed (or one message stored by ``post_message_sync``).

    ``shop_id`` is the batch's shop when it holds one shop only, else None (``shop_ids`` lists
    them). ``conversations``: [id, shop, seat, status as of the commit] per conversation written;
    ``messages``: [conversation, seq, id, sender_kind, internal, staff, seat] per new message
    (retries that stored nothing are not listed). ``created_at`` is the batch's one timestamp.

    ``live`` carries the stored messages as ``message`` frame dicts (plus ``staff``,
    ``conversation_status`` and ``conversation_seat``) to live listeners of the writing process
    only; it is not written to the outbox. Durable listeners read what they need by id
    (``xiaoer.chat.services.committed_messages``)."""

    name: ClassVar[str] = "chat.MessagesCommitted"
    shop_ids: list[int]
    conversations: list[list]
    messages: list[list]
    created_at: str
    live: tuple[dict, ...] = field(default=(), compare=False, repr=False)

    def to_payload(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that would deep-copy the live message dicts only to drop them.
        return {"shop_id": self.shop_id, "shop_ids": self.shop_ids, "conversations": self.conversations,
                "messages": self.messages, "created_at": self.created_at}

    def message_rows(self) -> list[dict[str, Any]]:
        """``messages`` as dicts keyed by MESSAGE_ROW."""
        return [dict(zip(MESSAGE_ROW, row, strict=False)) for row in self.messages]

    def status_of(self) -> dict[int, str]:
        """Conversation id → status as of the commit."""
        return {row[0]: row[3] for row in self.conversations}


@dataclass(frozen=True, kw_only=True)
class ConversationOpened(Event):
    """A shopper's conversation was created (queued; ConversationAssigned follows when routed)."""

    name: ClassVar[str] = "chat.ConversationOpened"
    conversation_id: int
    customer_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationAssigned(Event):
    """A conversation without a seat got one: routed (``how`` "route") or claimed ("claim")."""

    name: ClassVar[str] = "chat.ConversationAssigned"
    conversation_id: int
    seat_id: int
    how: str
    staff_id: int | None = None  # who claimed it; None when routed


@dataclass(frozen=True, kw_only=True)
class ConversationTransferred(Event):
    """A conversation moved from one seat to another (transfer by an agent, reassign by a supervisor)."""

    name: ClassVar[str] = "chat.ConversationTransferred"
    conversation_id: int
    from_seat_id: int | None
    to_seat_id: int
    staff_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationResolved(Event):
    name: ClassVar[str] = "chat.ConversationResolved"
    conversation_id: int
    seat_id: int | None
    staff_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationReopened(Event):
    """A resolved conversation is active again: by staff (``staff_id``) or by the shopper writing
    into it (``staff_id`` None). ``seat_id`` None: it went back to the queue."""

    name: ClassVar[str] = "chat.ConversationReopened"
    conversation_id: int
    seat_id: int | None
    staff_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class HistoryImported(Event):
    """One batch of past messages stored by ``xiaoer chat import`` with their own times
    (docs/chat-import.md). Not a MessagesCommitted: the robot and the live listeners must not
    react to old messages. ``conversations``: [conversation, customer, earliest new message
    time ISO 8601] per conversation written; ``message_count``: rows stored by the batch."""

    name: ClassVar[str] = "chat.HistoryImported"
    conversations: list[list]
    message_count: int
