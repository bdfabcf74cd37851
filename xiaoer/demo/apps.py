from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "xiaoer.demo"
    label = "demo"
    verbose_name = "演示店铺"
