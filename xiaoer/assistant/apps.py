import logging

from django.apps import AppConfig

log = logging.getLogger(__name__)


class AssistantConfig(AppConfig):
    name = "xiaoer.assistant"
    label = "assistant"
    verbose_name = "机器人客服"

    def ready(self) -> None:
        # The robot listens to committed chat messages; a deployment without the chat core (or
        # with an older one) still starts, just without live suggestions.
        try:
            from xiaoer.chat import events
        except ImportError:
            log.warning("xiaoer.chat.events missing: live robot suggestions disabled")
            return
        from xiaoer.assistant import services
        from xiaoer.chat import runtime

        events.on_messages_committed(services.on_committed)
        runtime.on_started(services.warm_server_indexes)
