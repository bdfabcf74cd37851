from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "xiaoer.orders"
    label = "orders"
    verbose_name = "订单"
