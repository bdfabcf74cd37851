from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "xiaoer.assistant"
    label = "assistant"
    verbose_name = "机器人客服"

    def ready(self) -> None:
        from xiaoer.assistant import services
        from xiaoer.chat import events as chat_events
        from xiaoer.chat import runtime
        from xiaoer.events import subscribe
        from xiaoer.knowledge.events import KnowledgeChanged

        chat_events.on_messages_committed(services.on_committed)  # the robot reads committed chat
        runtime.on_started(services.warm_server_indexes)
        subscribe(KnowledgeChanged, services.on_knowledge_changed, live=True)
