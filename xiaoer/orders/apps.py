from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "xiaoer.orders"
    label = "orders"
    verbose_name = "订单"

    def ready(self) -> None:
        from xiaoer.chat import cards
        from xiaoer.orders import services

        cards.register("order", services.chat_order_card)
