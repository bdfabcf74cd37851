"""Domain events: declared by the app they happen in, written to the outbox in the write's
transaction, delivered after commit (docs/events.md, docs/decisions/050-event-outbox-delivery.md).

    from xiaoer.events import Event, emit, subscribe

    @dataclass(frozen=True, kw_only=True)
    class OrderPaid(Event):
        name: ClassVar[str] = "orders.OrderPaid"
        order_id: int

    emit(OrderPaid(shop_id=1, order_id=7))           # inside the caller's transaction
    subscribe(OrderPaid, handler, name="kpi.orders")  # durable: run from the outbox, at least once
    subscribe(OrderPaid, push, live=True)              # live: in-process, at once after commit

Raw-SQL writers (the chat's group commit): ``outbox_insert(cursor, event)`` inside the
transaction, ``after_commit(event, outbox_id)`` after it. Tests: ``xiaoer.events.testing``.
Emitting apps never import listening apps; listeners register in their AppConfig.ready().
"""

from xiaoer.events.base import Event, after_commit, emit, event_class, outbox_insert, subscribe

__all__ = ["Event", "after_commit", "emit", "event_class", "outbox_insert", "subscribe"]
