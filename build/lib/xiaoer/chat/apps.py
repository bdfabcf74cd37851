from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "xiaoer.chat"
    label = "chat"
    verbose_name = "在线聊天"
