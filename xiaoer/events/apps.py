from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "xiaoer.events"
    label = "events"
    verbose_name = "领域事件"

    def ready(self) -> None:
        from xiaoer.events import tasks  # noqa: F401 - registers the delivery tasks with Huey
