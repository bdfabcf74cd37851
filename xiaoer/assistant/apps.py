from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "xiaoer.assistant"
    label = "assistant"
    verbose_name = "机器人客服"

    def ready(self) -> None:
        from xiaoer.assistant import services
        from xiaoer.chat import runtime
        from xiaoer.chat.events import MessagesCommitted
        from xiaoer.events import subscribe
        from xiaoer.knowledge.events import KnowledgeChanged

        # The robot reads every committed chat batch, live: suggestions are for now or never.
        subscribe(MessagesCommitted, services.on_committed, name="assistant.on_committed", live=True)
        runtime.on_started(services.warm_server_indexes)
        subscribe(KnowledgeChanged, services.on_knowledge_changed, live=True)
