"""Factories shared by the test suites of every app (public surface only: the services)."""

from __future__ import annotations

import itertools
import os

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


# --- PostgreSQL legs ------------------------------------------------------------------------------
# Races the docs claim hold on PostgreSQL (docs/decisions/040) are run there by default, not only on
# SQLite (which serializes writers): tests marked `race` are run again in a pytest subprocess whose
# DATABASE_URL is the local PostgreSQL. Skipped, with the reason, only when it is absent.

PG_URL = os.environ.get("XIAOER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_skip_reason() -> str | None:
    """Why the PostgreSQL leg cannot run here, or None when it can."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return "the suite itself runs on PostgreSQL: the race tests already ran there"
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        return f"PostgreSQL not reachable at {PG_URL} (set XIAOER_TEST_PG): {exc.__class__.__name__}"
    return None


def run_pytest_on_postgres(*targets: str, marker: str = "race", timeout: float = 600) -> str:
    """Run the tests TARGETS marked MARKER on PostgreSQL in a subprocess (a fresh test database,
    dropped after); fail if any failed or was skipped. Returns pytest's output."""
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("XIAOER_DATA_DIR", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=PG_URL, TEST_DATABASE_NAME=f"test_xiaoer_{uuid.uuid4().hex[:10]}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", marker,
                          *targets], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert " passed" in text, text[-2000:]
    assert " skipped" not in text, f"a race test was skipped on PostgreSQL:\n{text[-2000:]}"
    return text
