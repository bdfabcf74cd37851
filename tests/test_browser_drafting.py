"""Real browser (issue 15): 「AI 草稿」 in the robot panel streams a draft from a local
OpenAI-compatible server into the chat input, with its sources or its warnings.

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


@pytest.fixture(autouse=True)
def _words_only():
    """The robot on words only: the panel is drawn in a second, not after loading the encoder."""
    from xiaoer.assistant import encoder as enc
    from xiaoer.assistant import services as robot

    previous = (enc._encoder, enc._loaded)
    enc.set_encoder(None)
    robot.forget_indexes()
    yield
    robot.forget_indexes()
    enc._encoder, enc._loaded = previous


@pytest.fixture
def fake_llm(monkeypatch):
    from xiaoer.drafting.tests.fakellm import FakeLlm

    server = FakeLlm().start()
    monkeypatch.setenv("XIAOER_LLM_BASE_URL", server.url)
    monkeypatch.setenv("XIAOER_LLM_MODEL", "fake-qwen")
    yield server
    server.stop()


def test_the_draft_streams_into_the_composer_with_its_warnings(browser, shop_world, fake_llm):  # noqa: F811
    from playwright.sync_api import expect

    from xiaoer.assistant.engine import DATA
    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.customers import services as customer_services
    from xiaoer.knowledge import services as knowledge_services

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    knowledge_services.import_file(shop, "answers", (DATA / "kb_clothing.csv").read_bytes(), "kb.csv")
    conv = chat_services.get_or_create_conversation(shop, customer_services.get_or_create_buyer(shop, "tb_d1", "甲"))
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="衣服会起球吗")
    page = new_page(browser, [], viewport={"width": 1400, "height": 860})
    login(page, base, shop_world["lina"])
    page.locator("#conv-list .conv").first.click()
    start = page.locator("[data-draft-start]")
    result = page.locator(".draft-result")

    fake_llm.reply = "亲，这款面料做过抗起球处理，正常穿着不易起球哦～"
    start.click()
    expect(page.locator("#composer-text")).to_have_value(fake_llm.reply)
    expect(result).to_contain_text("草稿的数字和承诺都出自本店资料")
    expect(result).to_contain_text("标准答案 C03")

    fake_llm.reply = "亲，不会起球的，今天下单只要99元！"
    start.click()
    expect(page.locator("#composer-text")).to_have_value(fake_llm.reply)
    expect(result).to_contain_text("99元")
    expect(result.locator(".warn").first).to_be_visible()

    fake_llm.mode = "500"
    start.click()
    expect(page.locator("#composer-text")).to_have_value(
        __import__("re").compile("^亲，这款面料做过抗起球处理"))
    expect(result).to_contain_text("模型不可用")
