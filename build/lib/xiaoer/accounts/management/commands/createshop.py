"""``xiaoer createshop --slug S --name N --owner U --password P``: a shop with its owner login."""

from __future__ import annotations

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from xiaoer.accounts import services


class Command(BaseCommand):
    help = "Create a shop and its owner login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", required=True, help="URL name of the shop (letters, digits, - and _)")
        parser.add_argument("--name", required=True, help="shop name shown to shoppers")
        parser.add_argument("--owner", required=True, help="owner's login name")
        parser.add_argument("--password", help="owner's password (asked for when left out)")
        parser.add_argument("--timezone", default="Asia/Shanghai")

    def handle(self, *args, **opts) -> None:
        password = opts["password"] or getpass.getpass("店主密码: ")
        if len(password) < 8:
            raise CommandError("密码至少 8 个字符")
        try:
            shop = services.do_create_shop(slug=opts["slug"], name=opts["name"], owner_username=opts["owner"],
                                           owner_password=password, timezone_name=opts["timezone"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"已创建店铺「{shop.name}」({shop.slug})，店主登录名 {opts['owner']}"))
        self.stdout.write(f"  顾客聊天: /s/{shop.slug}/chat   客服工作台: /desk")
