"""Real browser (issue 10): the workbench's phrase picker shows quick phrases under their group
headings, and a seat's greeting reaches the conversation as text.

Runs by default when /usr/bin/chromium exists; skipped with the reason otherwise.
"""

from __future__ import annotations

import os

import pytest

from tests.test_browser import TIMEOUT, browser, login, new_page, shop_world  # noqa: F401 - fixtures

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _conversation(shop, buyer: str, name: str, text: str):
    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.customers import services as customer_services

    conv = chat_services.get_or_create_conversation(shop, customer_services.get_or_create_buyer(shop, buyer, name))
    writer.post_message_sync(conv.pk, sender_kind="shopper", body=text)
    return conv


def test_phrase_picker_shows_group_headings(browser, shop_world):  # noqa: F811 - fixtures
    from playwright.sync_api import expect

    from xiaoer.knowledge import services as knowledge_services
    from xiaoer.testing import owner_of

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    owner = owner_of(shop)
    for shortcut, text, group in (("wl1", "今天下午发货", "物流"), ("sh1", "七天无理由退货", "售后"),
                                  ("wl2", "默认中通快递", "物流"), ("hp", "谢谢亲的好评", "")):
        knowledge_services.do_save_phrase(owner, shortcut=shortcut, text=text, group=group)
    _conversation(shop, "tb_p1", "甲顾客", "在吗")
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, shop_world["lina"])
    agent.locator("#conv-list .conv").first.click()
    agent.fill("#composer-text", "/")
    agent.locator("#composer-text").dispatch_event("input")
    menu = agent.locator("#phrase-menu")
    expect(menu).to_be_visible()
    # the empty query lists by group, 未分组 last
    expect(menu.locator("li.phrase-group")).to_have_text(["售后", "物流", "未分组"])
    expect(menu.locator("li[role=option] .shortcut")).to_have_text(["/sh1", "/wl1", "/wl2", "/hp"])
    # a filtered query keeps one group's phrases together under its heading
    agent.fill("#composer-text", "/wl")
    agent.locator("#composer-text").dispatch_event("input")
    expect(menu.locator("li.phrase-group")).to_have_text(["物流"])
    agent.keyboard.press("ArrowDown")  # headings are not options: the second phrase, not a heading
    agent.keyboard.press("Tab")
    expect(agent.locator("#composer-text")).to_have_value("默认中通快递")
    assert dialogs == []


def test_a_seats_greeting_shows_in_the_conversation_as_text(browser, shop_world):  # noqa: F811 - fixtures
    from playwright.sync_api import expect

    from xiaoer.accounts.models import Role
    from xiaoer.chat import services as chat_services
    from xiaoer.events.testing import deliver_all
    from xiaoer.testing import make_staff

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    seat = shop.seats.get(display_name="小美")
    boss = make_staff(shop, Role.SUPERVISOR)
    chat_services.do_set_seat_greeting(boss, seat, "<img src=x onerror=alert(1)>{顾客}您好，我是{客服}")
    _conversation(shop, "tb_g1", "乙顾客", "在吗")
    chat_services.reopen_for_shopper(set(shop.conversations.values_list("pk", flat=True)))
    deliver_all()
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, shop_world["lina"])
    agent.locator("#conv-list .conv").first.click()
    expect(agent.locator("#messages .msg").filter(has_text="乙顾客您好，我是小美")).to_have_count(1)
    expect(agent.locator("#messages img[src=x]")).to_have_count(0)
    assert dialogs == []
