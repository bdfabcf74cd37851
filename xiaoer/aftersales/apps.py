from django.apps import AppConfig


class AftersalesConfig(AppConfig):
    """After the sale: returns and exchanges, reviews, revisit campaigns, satisfaction surveys
    (docs/aftersales.md). Listens to order and chat events; imported by none of their emitters."""

    name = "xiaoer.aftersales"
    label = "aftersales"
    verbose_name = "售后"

    def ready(self) -> None:
        from xiaoer.aftersales import campaigns_tasks  # noqa: F401 - registers the revisit tasks (h10)
