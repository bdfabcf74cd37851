"""Real browser (issue 14): a trainee plays the bargaining scenario in the training chat (marked
训练), sees each reply's score with its reasons, talks the thrifty shopper round with a gift and
sees the session's score.

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


@pytest.fixture
def words_only_robot():
    from xiaoer.assistant import encoder as enc
    from xiaoer.assistant import services

    previous = (enc._encoder, enc._loaded)
    enc.set_encoder(None)
    services.forget_indexes()
    yield
    services.forget_indexes()
    enc._encoder, enc._loaded = previous


def test_a_trainee_plays_a_bargaining_scenario_and_sees_the_score(browser, shop_world, words_only_robot):  # noqa: F811
    from playwright.sync_api import expect

    from xiaoer.assistant import demo as assistant_demo
    from xiaoer.training import demo as training_demo

    expect.set_options(timeout=TIMEOUT)
    base, shop, lina = shop_world["base"], shop_world["shop"], shop_world["lina"]
    assistant_demo.seed(shop)
    training_demo.seed(shop)
    page = new_page(browser, [], viewport={"width": 1200, "height": 900})
    login(page, base, lina)
    page.goto(f"{base}/desk/training/")
    page.locator("tr", has_text="精明型顾客砍价").get_by_role("button", name="开始练习").click()
    expect(page.locator(".training-mark")).to_have_text("训练")
    chat = page.locator("#training-chat")
    expect(chat).to_contain_text("这条裙子包邮吗？")

    def say(text: str) -> None:
        page.fill("textarea[name=text]", text)
        page.get_by_role("button", name="发送").click()

    say("亲，全店满59元就包邮哦～")
    expect(chat.locator(".training-score").first).to_contain_text("与标准答案意思相近度")
    expect(chat).to_contain_text("什么时候发货？")
    say("亲，下午4点前付款当天就发货哦～")
    expect(chat).to_contain_text("能再便宜点吗？")
    say("亲，价格很实在了，现在下单送小礼品，还能领店铺券哦～")
    expect(chat.locator(".training-result")).to_contain_text("本次得分")
    expect(chat.locator(".training-result")).to_contain_text("已下单")
