from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "xiaoer.events"
    label = "events"
    verbose_name = "领域事件"
