from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "xiaoer.customers"
    label = "customers"
    verbose_name = "顾客"
