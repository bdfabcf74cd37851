from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "xiaoer.accounts"
    label = "accounts"
    verbose_name = "店铺与客服"

    def ready(self) -> None:
        # Access and seat changes made in Django admin emit the same events as the services.
        from xiaoer.accounts import signals

        signals.connect()
