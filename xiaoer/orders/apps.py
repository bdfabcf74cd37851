from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "xiaoer.orders"
    label = "orders"
    verbose_name = "订单"

    def ready(self) -> None:
        from xiaoer.chat import cards
        from xiaoer.chat import services as chat_services
        from xiaoer.orders import services

        cards.register("order", services.chat_order_card)
        chat_services.add_search_provider(services.customers_by_order_no)
