"""The leave-a-message form in a real browser on a 390 px phone (docs/decisions/125-leave-a-message.md):
nobody online → the notice and the form instead of the chat input; a bad contact is refused in
Chinese; the message is received and confirmed; an agent opening the workbench gets the queued
conversation with its text, and the shopper's page turns back into the chat."""

from __future__ import annotations

import os

import pytest

from tests.test_browser import CHROMIUM, TIMEOUT, browser, login, new_page  # noqa: F401 - fixtures
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page, name: str) -> None:
    if os.environ.get("XIAOER_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["XIAOER_SHOTS"], f"{name}.png"))


def test_nobody_online_leave_a_message_then_an_agent_comes_online(browser, live_chat_server):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    shop = make_shop(name="小二的店")
    lina = make_staff(shop, display_name="李娜")
    make_seat(shop, "小美", operator=lina, present=False)  # available, but nobody at a workbench
    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    shopper.goto(f"{live_chat_server}/s/{shop.slug}/chat")

    box = shopper.locator("#leave-box")
    expect(box).to_be_visible()
    expect(box.locator(".leave-notice")).to_contain_text("客服暂时不在线")
    expect(shopper.locator("#composer")).to_be_hidden()
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")  # welcome came: still offline
    expect(shopper.locator("#seat-line")).to_have_text("客服暂时不在线，可以给我们留言")
    for selector in ("#leave-body", "#leave-contact", "#leave-submit"):  # on screen, inside 390 px
        rect = shopper.locator(selector).bounding_box()
        assert rect and rect["x"] >= 0 and rect["x"] + rect["width"] <= 390 and rect["y"] + rect["height"] <= 760, selector
    shot(shopper, "leave-message-form-390")

    shopper.fill("#leave-body", "请问这件外套还有 L 码吗？")
    shopper.fill("#leave-contact", "abc")  # neither a phone number nor a WeChat id
    shopper.click("#leave-submit")
    expect(shopper.locator("#leave-error")).to_contain_text("请填写正确的手机号或微信号")
    shopper.fill("#leave-contact", "138-0013-8000")
    shopper.click("#leave-submit")
    expect(shopper.locator("#leave-done")).to_contain_text("留言已收到，客服上线后会尽快回复您")
    expect(shopper.locator("#leave-form")).to_be_hidden()
    expect(shopper.locator(".msg.mine").filter(has_text="还有 L 码吗")).to_be_visible()
    shot(shopper, "leave-message-done-390")
    shopper.reload()  # queued now, still nobody online: the history, the notice and the form again
    expect(shopper.locator(".msg.mine").filter(has_text="还有 L 码吗")).to_be_visible()
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    expect(shopper.locator("#seat-line")).to_have_text("客服暂时不在线，可以给我们留言")
    expect(shopper.locator("#leave-form")).to_be_visible()
    # Queued with nobody online: no "your turn soon" banner and a grey dot, not a green one.
    expect(shopper.locator("#queue-banner")).to_be_hidden()
    dot = shopper.locator("#conn-state").evaluate("e => getComputedStyle(e, '::before').backgroundColor")
    assert dot == "rgb(156, 163, 175)", dot

    conv = Conversation.objects.get(shop=shop)
    assert conv.status == "queued" and conv.seat_id is None
    assert Customer.objects.get(pk=conv.customer_id).phone == "13800138000"

    # The agent opens the workbench: present now, the queue drains into their seat, the shopper's
    # page gets the chat input back (the `staffed` event and the routed `queue` frame).
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, live_chat_server, lina)
    row = agent.locator(".conv").filter(has_text="还有 L 码吗")
    expect(row).to_be_visible()
    row.click()
    expect(agent.locator("#messages .msg").filter(has_text="还有 L 码吗").locator(".badge.left-message")) \
        .to_contain_text("离线留言")
    expect(shopper.locator("#composer")).to_be_visible()
    expect(box).to_be_hidden()
    expect(shopper.locator("#seat-line")).to_contain_text("小美")
    dot = shopper.locator("#conn-state").evaluate("e => getComputedStyle(e, '::before').backgroundColor")
    assert dot == "rgb(34, 197, 94)", dot  # someone answers now: green
    conv.refresh_from_db()
    assert conv.status == "open" and conv.seat.operator_id == lina.pk
    assert not dialogs
