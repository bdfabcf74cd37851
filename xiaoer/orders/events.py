"""What happens to orders (docs/events.md "### orders").

Batch events: an import, a webhook or a sweep emits one event per kind per batch of up to
EVENT_BATCH orders (``order_ids``), not one per order: a 100,000-row report is 100 outbox rows,
not 100,000 (docs/decisions/060-order-events-per-batch.md). A single order is a batch of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xiaoer.events import Event

EVENT_BATCH = 1000


@dataclass(frozen=True, kw_only=True)
class OrderCreated(Event):
    """New orders stored (import, webhook, API); SOURCE is the OrderSource value."""

    name: ClassVar[str] = "orders.OrderCreated"
    order_ids: list[int]
    source: str


@dataclass(frozen=True, kw_only=True)
class OrderUpdated(Event):
    """Existing orders changed by their source (a re-import or a webhook); FIELDS: the union of what changed."""

    name: ClassVar[str] = "orders.OrderUpdated"
    order_ids: list[int]
    source: str
    fields: list[str]


@dataclass(frozen=True, kw_only=True)
class OrderPaid(Event):
    """Orders that got their payment time (new paid orders included)."""

    name: ClassVar[str] = "orders.OrderPaid"
    order_ids: list[int]


@dataclass(frozen=True, kw_only=True)
class OrderShipped(Event):
    """Orders that got their shipping time (carrier and tracking number set)."""

    name: ClassVar[str] = "orders.OrderShipped"
    order_ids: list[int]


@dataclass(frozen=True, kw_only=True)
class OrderClosed(Event):
    """Orders closed: by an agent (STAFF_ID, REASON) or by their source (staff_id None)."""

    name: ClassVar[str] = "orders.OrderClosed"
    order_ids: list[int]
    staff_id: int | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderChanged(Event):
    """One entry of an order's change log written by the workflow (a person, or a sweep when
    STAFF_ID is None): KIND is OrderChange.kind ("change", "confirm", "shipping", …)."""

    name: ClassVar[str] = "orders.OrderChanged"
    order_id: int
    change_id: int
    kind: str
    staff_id: int | None
    seat_id: int | None
    fields: list[str]


@dataclass(frozen=True, kw_only=True)
class PaymentReminderSent(Event):
    """Payment reminders queued (notice key "remind-<id>"): by the sweep, or by an agent (STAFF_ID)."""

    name: ClassVar[str] = "orders.PaymentReminderSent"
    order_ids: list[int]
    staff_id: int | None = None
