"""Real browser, what a newcomer saw (issue 10): the shopper page on a phone, the workbench's
conversation rows and chat view, must-read notices, suggestions and the rough pages.

Runs by default when /usr/bin/chromium exists; skipped with the reason otherwise.
"""

from __future__ import annotations

import os

import pytest

from tests.test_browser import TIMEOUT, browser, login, new_page, send, shop_world  # noqa: F401 - fixtures
from xiaoer.chat.tests.conftest import _chat_server, live_chat_server  # noqa: F401 - fixtures

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page, name: str) -> None:
    """XIAOER_SHOTS=dir saves a screenshot for a person to look at (not an assertion)."""
    if os.environ.get("XIAOER_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["XIAOER_SHOTS"], f"{name}.png"))


def _box(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box, selector
    return box


def test_phone_input_bar_is_one_row_with_a_flexible_box(browser, shop_world):  # noqa: F811 - fixtures
    """390 px: 订单, ＋, the text box and 发送 sit on one row, left to right, and the box takes the
    room left (it grows with the viewport; the buttons don't)."""
    from playwright.sync_api import expect

    from xiaoer.chat import services as chat_services

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    dialogs: list[str] = []
    widths = {}
    for width in (390, 600):
        shopper = new_page(browser, dialogs, viewport={"width": width, "height": 760})
        shopper.goto(base + chat_services.make_buyer_link(shop, "tb_phone", name="小雨"))
        expect(shopper.locator("#orders-button")).to_be_visible()
        orders = _box(shopper, "#orders-button")
        plus = _box(shopper, "#composer label.tool")
        text = _box(shopper, "#composer-text")
        submit = _box(shopper, "#composer button[type=submit]")
        row = [orders, plus, text, submit]
        for left, right in zip(row, row[1:], strict=False):
            assert left["x"] + left["width"] <= right["x"] + 0.5, (left, right)  # in order, no overlap
        centres = [b["y"] + b["height"] / 2 for b in row]
        assert max(centres) - min(centres) < 12, centres  # one row
        assert submit["x"] + submit["width"] <= width  # 发送 is on screen
        assert text["width"] > width * 0.5  # the box gets the room
        widths[width] = text["width"]
        shot(shopper, f"shopper-{width}")
        shopper.context.close()
    assert widths[600] - widths[390] > 150  # flexible
    assert dialogs == []
