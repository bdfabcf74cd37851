from django.apps import AppConfig


class AftersalesConfig(AppConfig):
    """After the sale: returns and exchanges, reviews, revisit campaigns, satisfaction surveys
    (docs/aftersales.md). Listens to order and chat events; imported by none of their emitters."""

    name = "xiaoer.aftersales"
    label = "aftersales"
    verbose_name = "售后"

    def ready(self) -> None:
        from xiaoer.aftersales import campaigns_tasks  # noqa: F401 - registers the revisit tasks

        self._ready_returns_csat()

    def _ready_returns_csat(self) -> None:
        """Returns and CSAT (h9): the return-address card, the notice texts, the CSAT listener."""
        from xiaoer.aftersales import csat, returns
        from xiaoer.chat import cards
        from xiaoer.chat.events import ConversationResolved
        from xiaoer.events import subscribe
        from xiaoer.notify import texts

        cards.register("return_address", returns.chat_card, staff_only=True)
        for name, text in returns.NOTICE_TEXTS.items():  # shops may reword them like notify's own
            texts.DEFAULTS.setdefault(name, text)
        subscribe(ConversationResolved, csat.on_resolved, name="aftersales.csat_card")
