"""Issue 10 in a real browser: read receipts (only the serving seat; kept after a reload) and
the queue banner of a shopper who is next in line (phone viewport)."""

from __future__ import annotations

import os

import pytest

from tests.test_browser import CHROMIUM, TIMEOUT, browser, login, new_page, send  # noqa: F401 - fixtures
from xiaoer.chat.models import Conversation
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_only_the_serving_seat_marks_read_and_read_survives_a_reload(browser, live_chat_server):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    shop = make_shop(name="小二的店")
    lina, qiang = make_staff(shop, display_name="李娜"), make_staff(shop, display_name="王强")
    make_seat(shop, "小美", operator=lina)
    make_seat(shop, "阿杰", operator=qiang, online=False)
    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    shopper.goto(f"{live_chat_server}/s/{shop.slug}/chat")
    send(shopper, "请问什么时候发货？")
    mine = shopper.locator(".msg.mine").filter(has_text="什么时候发货")
    expect(mine.locator(".status")).to_have_text("已送达")
    expect(shopper.locator("#seat-line")).to_contain_text("小美")

    other = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(other, live_chat_server, qiang)  # another seat's agent opens it: not 已读
    conv = Conversation.objects.get(shop=shop)
    other.goto(f"{live_chat_server}/desk/c/{conv.pk}")
    expect(other.locator("#messages .bubble").filter(has_text="什么时候发货")).to_be_visible()
    other.wait_for_timeout(800)
    expect(mine.locator(".status")).to_have_text("已送达")

    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, live_chat_server, lina)
    agent.locator(".conv").filter(has_text="什么时候发货").click()
    expect(mine.locator(".status")).to_have_text("已读")

    shopper.reload()
    expect(shopper.locator(".msg.mine").filter(has_text="什么时候发货").locator(".status")).to_have_text("已读")
    assert not dialogs


def test_queue_banner_of_the_shopper_next_in_line(browser, live_chat_server):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    shop = make_shop(name="小二的店")
    make_seat(shop, "小美", operator=make_staff(shop), online=False)  # 挂起: nobody takes shoppers
    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    shopper.goto(f"{live_chat_server}/s/{shop.slug}/chat")
    send(shopper, "有人吗？")
    banner = shopper.locator("#queue-banner")
    expect(banner).to_have_text("马上就轮到您了，请稍候")
    assert "前面还有" not in banner.text_content()
