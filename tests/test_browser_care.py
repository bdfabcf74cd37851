"""A questionnaire in a real browser on a 390 px phone (docs/customers-care.md): the agent sends it
into the chat, the shopper sees a card with a link, answers on the phone, gets the coupon code;
tapping submit twice still gives one coupon."""

from __future__ import annotations

import os

import pytest

from tests.test_browser import CHROMIUM, TIMEOUT, browser, new_page, send  # noqa: F401 - fixtures
from xiaoer.chat.models import Conversation
from xiaoer.crm import coupons, questionnaires
from xiaoer.crm.models import Coupon
from xiaoer.testing import make_seat, make_shop, make_staff, owner_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_questionnaire_card_answered_on_a_phone(browser, live_chat_server):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    shop = make_shop(name="小二的店")
    lina = make_staff(shop, display_name="李娜")
    make_seat(shop, "小美", operator=lina)
    owner = owner_of(shop)
    batch = coupons.do_create_batch(owner, name="问卷感谢券", kind="amount", value="10", valid_days=30)
    questionnaire = questionnaires.do_save_questionnaire(owner, title="穿衣小调查", questions=[
        {"text": "您的性别", "kind": "single", "choices": ["女", "男"], "maps_to": "gender", "required": True},
        {"text": "喜欢的风格", "kind": "multiple", "choices": ["简约", "复古"]},
        {"text": "您的生日", "kind": "date", "maps_to": "birthday"},
    ], coupon_batch_id=batch.pk)
    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    shopper.goto(f"{live_chat_server}/s/{shop.slug}/chat")
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    send(shopper, "你好")
    expect(shopper.locator(".msg.mine").filter(has_text="你好")).to_be_visible()
    conv = Conversation.objects.get(shop=shop)
    questionnaires.do_send_in_chat(owner, questionnaire, conv.pk)

    link = shopper.locator(".questionnaire-card a")
    expect(link).to_be_visible()
    expect(shopper.locator(".questionnaire-card")).to_contain_text("穿衣小调查")
    href = link.get_attribute("href")
    assert href.startswith(f"/q/{shop.slug}/")

    page = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    page.goto(live_chat_server + href)
    expect(page.locator("h1")).to_have_text("穿衣小调查")
    button = page.locator("button", has_text="提交")
    rect = button.bounding_box()
    assert rect and rect["x"] >= 0 and rect["x"] + rect["width"] <= 390  # fits the phone
    page.check("input[value=女]")
    page.check("input[value=复古]")
    page.fill("input[type=date]", "1996-05-20")
    button.dblclick()  # an impatient double tap
    expect(page.locator(".done")).to_contain_text("感谢")
    code = Coupon.objects.get(customer_id=conv.customer_id).code
    expect(page.locator(".coupon")).to_have_text(coupons.show_code(code))
    assert Coupon.objects.filter(customer_id=conv.customer_id).count() == 1
    page.reload()  # the link again: the same thank-you and code, nothing new
    expect(page.locator(".coupon")).to_have_text(coupons.show_code(code))
    assert Coupon.objects.count() == 1
