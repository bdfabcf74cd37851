from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "xiaoer.knowledge"
    label = "knowledge"
