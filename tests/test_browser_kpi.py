"""The KPI page in a real browser: plotly.js is served from our own static files (CSP 'self')
and the trend, funnel and response-time charts draw with the shop's data (docs/kpis.md)."""

from __future__ import annotations

import os
import re

import pytest

from tests.test_browser import CHROMIUM, TIMEOUT, browser, new_page  # noqa: F401 - fixtures
from xiaoer.accounts.models import Role
from xiaoer.kpi.tests.scene import (
    D1,
    D3,
    LINES,
    ORDERS,
    add_orders,
    import_chat,
    make_world,
    settle,
    write_lines,
)
from xiaoer.testing import PASSWORD, make_staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_kpi_charts_draw_with_data(browser, live_chat_server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    world = make_world()
    import_chat(world.shop, write_lines(tmp_path / "h.jsonl", LINES))
    add_orders(world.shop, ORDERS)
    settle()
    boss = make_staff(world.shop, Role.SUPERVISOR)
    errors: list[str] = []
    page = new_page(browser, [])
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_chat_server}/desk/login")
    page.fill("input[name=username]", boss.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/desk.*"))
    page.goto(f"{live_chat_server}/kpi/?p=custom&from={D1.isoformat()}&to={D3.isoformat()}")

    expect(page.locator("#kpi-trend .main-svg").first).to_be_visible()
    expect(page.locator("#kpi-trend .scatterlayer .trace")).to_have_count(4)  # inquiries, ordered, paid, rate
    bars = page.locator("#kpi-distribution .bars .point")
    expect(bars).to_have_count(5)
    heights = [bars.nth(i).bounding_box()["height"] for i in range(5)]
    assert heights[0] > 0 and heights[2] > 0  # 3 turns ≤ 30 s… and 1–3 min: drawn with data
    expect(page.locator("#kpi-funnel")).to_contain_text("询单")
    expect(page.locator("#kpi-funnel .point")).to_have_count(3)  # inquiries → ordered → paid
    expect(page.locator("table.kpi-table").first).to_contain_text("小美")
    assert not [e for e in errors if "Content Security Policy" in e], errors
