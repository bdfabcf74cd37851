from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "xiaoer.accounts"
    label = "accounts"
    verbose_name = "店铺与客服"
