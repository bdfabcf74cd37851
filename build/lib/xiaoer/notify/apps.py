from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "xiaoer.notify"
    label = "notify"
    verbose_name = "通知"
