from django.apps import AppConfig


class KpiConfig(AppConfig):
    """Agent KPIs: a durable projection of chat and order events into per-buyer facts and daily
    rollups per shop × day × seat × person (docs/kpis.md, docs/decisions/155)."""

    name = "xiaoer.kpi"
    label = "kpi"
    verbose_name = "客服绩效"

    def ready(self) -> None:
        from xiaoer.chat.events import HistoryImported, MessagesCommitted
        from xiaoer.events import subscribe
        from xiaoer.kpi import listeners
        from xiaoer.orders.events import (
            OrderClosed,
            OrderCreated,
            OrderPaid,
            OrderUpdated,
            PaymentReminderSent,
        )

        subscribe(MessagesCommitted, listeners.on_messages, name="kpi.rollups")
        subscribe(HistoryImported, listeners.on_history, name="kpi.rollups")
        for event_type in (OrderCreated, OrderUpdated, OrderPaid, OrderClosed, PaymentReminderSent):
            subscribe(event_type, listeners.on_orders, name="kpi.rollups")
