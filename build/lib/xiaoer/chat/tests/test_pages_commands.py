"""The ``demo`` and ``createshop`` management commands."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from xiaoer.accounts.models import Role, Seat, Shop, Staff
from xiaoer.chat.models import Conversation, Message
from xiaoer.customers.models import CustomerNote

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_demo_creates_the_shop_once_and_prints_logins():
    first = run("demo")
    shop = Shop.objects.get(slug="demo")
    assert shop.name == "小二的店"
    assert {s.display_name for s in Seat.objects.filter(shop=shop)} == {"小美", "小雪", "阿杰"}
    roles = sorted(Staff.objects.filter(shop=shop).values_list("role", flat=True))
    assert roles.count(Role.AGENT) == 2 and Role.SUPERVISOR in roles and Role.OWNER in roles
    lina = Staff.objects.get(user__username="demo-lina")
    assert Seat.objects.filter(operator=lina).count() == 2  # one person, two seats
    statuses = sorted(Conversation.objects.filter(shop=shop).values_list("status", flat=True))
    assert "queued" in statuses and "resolved" in statuses and statuses.count("open") >= 3
    assert Message.objects.filter(shop=shop, kind="note", internal=True).exists()
    assert CustomerNote.objects.filter(shop=shop).exists()
    assert "/desk" in first and "/s/demo/chat" in first and "demo-lead" in first and "xiaoer-demo" in first
    messages = Message.objects.filter(shop=shop).count()

    again = run("demo")
    assert "已存在" in again and "/desk" in again
    assert Shop.objects.filter(slug="demo").count() == 1
    assert Message.objects.filter(shop=shop).count() == messages


def test_createshop():
    out = run("createshop", "--slug", "tea-house", "--name", "茶馆", "--owner", "tea-owner",
              "--password", "long-enough-9")
    shop = Shop.objects.get(slug="tea-house")
    assert "茶馆" in out and Staff.objects.get(user__username="tea-owner").shop == shop
    with pytest.raises(CommandError, match="已被使用"):
        run("createshop", "--slug", "tea-house", "--name", "x", "--owner", "other", "--password", "long-enough-9")
    with pytest.raises(CommandError, match="8"):
        run("createshop", "--slug", "short", "--name", "x", "--owner", "o2", "--password", "short")
