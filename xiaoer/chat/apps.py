from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "xiaoer.chat"
    label = "chat"
    verbose_name = "在线聊天"

    def ready(self) -> None:
        # A person who loses access (deactivated, deleted, a role that may not chat) is cut off:
        # their open sockets are closed after the commit, in every process.
        from xiaoer.chat import services, signals
        from xiaoer.events import subscribe
        from xiaoer.knowledge.events import NoticePublished

        signals.connect()
        subscribe(NoticePublished, services.push_knowledge_notice, live=True)
