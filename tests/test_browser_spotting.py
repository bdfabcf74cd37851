"""Real browser (issue 11): a shopper states a phone number in chat → the proposal appears in the
workbench side panel ("顾客类型与待确认资料", reloaded by the live event) → the agent confirms it
with one click → the customer's profile has the phone, recorded with who confirmed it.

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


def shot(page, name: str) -> None:
    if os.environ.get("XIAOER_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["XIAOER_SHOTS"], f"{name}.png"))


def test_a_spotted_phone_is_confirmed_from_the_side_panel(browser, shop_world):  # noqa: F811 - fixtures
    from playwright.sync_api import expect

    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.crm.models import AttributeProposal
    from xiaoer.customers import services as customer_services
    from xiaoer.customers.models import Customer, CustomerContact
    from xiaoer.events.testing import deliver_all

    expect.set_options(timeout=TIMEOUT)
    base, shop, lina = shop_world["base"], shop_world["shop"], shop_world["lina"]
    customer = customer_services.get_or_create_buyer(shop, "tb_spot", "丙顾客")
    conv = chat_services.get_or_create_conversation(shop, customer)
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="在吗")
    deliver_all()
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 900})
    login(agent, base, lina)
    agent.locator("#conv-list .conv").filter(has_text="丙顾客").click()
    section = agent.locator('[data-panel="crm-panel-type-attributes"]')
    expect(section.locator("h3")).to_have_text("顾客类型与待确认资料")
    expect(section).to_contain_text("暂无待确认的资料")

    # The shopper writes a phone number; the durable listener runs (here, as a worker would) and
    # its live event reloads the section on the open workbench.
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="我的电话是13812345678，麻烦发顺丰")
    deliver_all()
    card = section.locator('.proposal[data-kind="phone"]')
    expect(card).to_be_visible()
    expect(card.locator(".proposal-value")).to_have_text("138****5678")  # an agent sees phones masked
    expect(card).to_contain_text("麻烦发顺丰")  # the message it came from
    shot(agent, "crm-panel-proposal")
    card.get_by_role("button", name="确认").click()
    expect(section.locator(".proposal")).to_have_count(0)
    expect(section.locator("details")).to_contain_text("手机/电话")

    customer = Customer.objects.get(pk=customer.pk)
    assert customer.phone == "13812345678"
    assert CustomerContact.objects.filter(customer=customer, kind="phone", value="13812345678").exists()
    fact = AttributeProposal.objects.get(customer=customer, kind="phone")
    assert fact.state == "confirmed" and fact.decided_by_id == lina.pk
    assert dialogs == []
