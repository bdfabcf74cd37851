from django.apps import AppConfig


class CrmConfig(AppConfig):
    """Customer relationship work over the profiles of `customers`: value and RFM from orders,
    segments, attributes spotted in chat, shopper types, coupons, questionnaires, birthday care.
    It listens to chat and order events and is imported by none of them (docs/decisions/130)."""

    name = "xiaoer.crm"
    label = "crm"
    verbose_name = "客户关系"

    def ready(self) -> None:
        # Each area registers its listeners here (value projection, attribute spotting, …).
        from xiaoer.chat.events import MessagesCommitted
        from xiaoer.events import subscribe
        from xiaoer.orders.events import OrderClosed, OrderCreated, OrderPaid, OrderUpdated

        from . import (
            hints,
            tasks,  # noqa: F401  (the daily RFM snapshot)
        )
        from .events import CustomersMerged
        from .value import on_customers_merged, on_orders

        for event_type in (OrderCreated, OrderUpdated, OrderPaid, OrderClosed):
            subscribe(event_type, on_orders, name="crm.customer_value")
        subscribe(MessagesCommitted, hints.spot_committed, name="crm.spot_attributes")
        subscribe(CustomersMerged, on_customers_merged, name="crm.value_after_merge")
        self._ready_care()

    @staticmethod
    def _ready_care() -> None:
        """Coupons, questionnaires, birthday care (docs/customers-care.md)."""
        from xiaoer.chat import cards
        from xiaoer.crm import care_timeline, coupons, questionnaires
        from xiaoer.events import subscribe
        from xiaoer.orders.events import OrderCreated, OrderUpdated

        cards.register("questionnaire", questionnaires.chat_card, staff_only=True)
        subscribe(OrderCreated, coupons.on_orders, name="crm.coupon_redemptions")
        subscribe(OrderUpdated, coupons.on_orders, name="crm.coupon_redemptions")
        care_timeline.register_all()
