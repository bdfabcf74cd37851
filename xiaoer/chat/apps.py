from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "xiaoer.chat"
    label = "chat"
    verbose_name = "在线聊天"

    def ready(self) -> None:
        # Live pushes after other writes commit (conversation changes, seat handovers, knowledge
        # notices), reopen on a shopper's message, and cutting off people who lost access:
        # xiaoer/chat/listeners.py.
        from xiaoer.chat import listeners

        listeners.register()
