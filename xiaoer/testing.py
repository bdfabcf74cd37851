"""Factories shared by the test suites of every app (public surface only: the services)."""

from __future__ import annotations

import itertools

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, Seat, Shop, Staff

_counter = itertools.count(1)
PASSWORD = "correct-horse-9"


def make_shop(slug: str | None = None, name: str = "测试小店") -> Shop:
    n = next(_counter)
    slug = slug or f"shop{n}"
    return account_services.do_create_shop(slug=slug, name=name, owner_username=f"{slug}-owner",
                                           owner_password=PASSWORD)


def make_staff(shop: Shop, role: str = Role.AGENT, username: str | None = None,
               display_name: str | None = None) -> Staff:
    n = next(_counter)
    return account_services.do_create_staff(shop=shop, username=username or f"{shop.slug}-{role}-{n}",
                                            password=PASSWORD, role=role,
                                            display_name=display_name or f"{role}{n}")


def make_seat(shop: Shop, display_name: str = "小美", operator: Staff | None = None,
              online: bool = True, max_concurrent: int | None = None, present: bool = True) -> Seat:
    """A seat; with an OPERATOR, ONLINE (available) and, with PRESENT, as if its operator had a
    workbench open (a presence row of a node named "test"; routing needs one)."""
    n = next(_counter)
    seat = account_services.do_create_seat(shop=shop, name=f"seat{n}", display_name=display_name,
                                           max_concurrent=max_concurrent)
    if operator is not None:
        account_services.do_assign_seat(seat, operator)
        account_services.do_set_seat_online(seat, online)
        if present:
            mark_present_for_tests(operator)
    return seat


def mark_present_for_tests(staff: Staff) -> None:
    from django.utils import timezone

    from xiaoer.chat.models import Presence

    Presence.objects.update_or_create(staff=staff, node="test", defaults={"seen_at": timezone.now()})


def owner_of(shop: Shop) -> Staff:
    return Staff.objects.get(shop=shop, role=Role.OWNER)


def client_for(staff: Staff):
    """A Django test client logged in as STAFF."""
    from django.test import Client

    client = Client()
    assert client.login(username=staff.user.username, password=PASSWORD)
    return client


def shopper_arrives(shop: Shop, **kwargs):
    """A shopper opens the chat page and writes (what their first message does: the visitor
    becomes a conversation and is routed). Returns the ShopperSession, conversation reloaded."""
    from xiaoer.chat import services
    from xiaoer.chat.models import Conversation

    session = services.start_shopper_session(shop, **kwargs)
    services.reopen_for_shopper({session.conversation.pk})
    session.conversation = Conversation.objects.select_related("seat", "customer").get(pk=session.conversation.pk)
    return session
