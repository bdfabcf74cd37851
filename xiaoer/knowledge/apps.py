from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "xiaoer.knowledge"
    label = "knowledge"
    verbose_name = "商品知识"
