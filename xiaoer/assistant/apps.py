from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "xiaoer.assistant"
    label = "assistant"
