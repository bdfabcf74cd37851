"""The Content-Security-Policy breaks nothing in a real browser: the workbench (htmx panels), the
shopper page (socket, image preview), the knowledge pages, the admin and the language menu
run without a single policy violation (issue 10, Security)."""

from __future__ import annotations

import re

import pytest

from tests.test_browser import (  # noqa: F401 - fixtures
    TIMEOUT,
    _orm_beside_playwright,
    browser,
    login,
    new_page,
    send,
    shop_world,
)
from xiaoer.testing import owner_of

pytestmark = pytest.mark.browser


def _watch(page, violations: list[str]) -> None:
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)


def test_pages_run_under_the_policy(browser, shop_world):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    base, violations, dialogs = shop_world["base"], [], []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    _watch(shopper, violations)
    shopper.goto(f"{base}/s/{shop_world['shop'].slug}/chat")
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    send(shopper, "你好")

    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    _watch(agent, violations)
    login(agent, base, shop_world["lina"])
    agent.locator(".conv").filter(has_text="你好").click()
    expect(agent.locator("#messages .msg .bubble").filter(has_text="你好")).to_be_visible()
    agent.wait_for_load_state("networkidle")
    assert agent.evaluate("document.querySelector('script[src*=\"htmx\"]') !== null || !!window.htmx") is not None

    owner = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    _watch(owner, violations)
    owner.goto(f"{base}/desk/login")
    owner.fill("input[name=username]", owner_of(shop_world["shop"]).user.username)
    owner.fill("input[name=password]", "correct-horse-9")
    owner.click("button[type=submit]")
    owner.wait_for_url(re.compile(r".*/desk.*"))
    for path in ("/desk/knowledge", "/api/docs"):
        owner.goto(base + path)
        owner.wait_for_load_state("networkidle")
    # the language menu (a static script now, not an inline handler) still switches
    owner.goto(base + "/desk/login")
    owner.select_option("select[name=language]", "en")
    owner.wait_for_load_state("networkidle")
    assert owner.evaluate("document.documentElement.lang") == "en"
    assert violations == []
