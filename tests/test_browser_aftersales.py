"""Real browser (issue 12): a return case opened from the chat's side panel, approved, the return
address card answered by the shopper on a 390 px phone, receipt confirmed by the warehouse, refund
by the agent; then the conversation is resolved and the shopper rates it on the phone.

Runs by default when /usr/bin/chromium exists; skipped with the reason otherwise.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest

from tests.test_browser import TIMEOUT, browser, login, new_page, send, shop_world  # noqa: F401 - fixtures
from xiaoer.testing import PASSWORD

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]
PHONE = {"width": 390, "height": 760}


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def fits_the_phone(locator) -> bool:
    rect = locator.bounding_box()
    return bool(rect) and rect["x"] >= 0 and rect["x"] + rect["width"] <= PHONE["width"]


def test_return_from_chat_to_refund_then_csat_on_a_phone(browser, shop_world):  # noqa: F811 - fixtures
    from django.utils import timezone
    from playwright.sync_api import expect

    from xiaoer.accounts.models import Role
    from xiaoer.aftersales import returns
    from xiaoer.aftersales.models import CsatSurvey, ReturnCase
    from xiaoer.chat import services as chat_services
    from xiaoer.chat.models import Conversation
    from xiaoer.events.testing import deliver_all
    from xiaoer.orders.models import Order, OrderStatus
    from xiaoer.testing import make_staff, owner_of

    expect.set_options(timeout=TIMEOUT)
    base, shop, lina = shop_world["base"], shop_world["shop"], shop_world["lina"]
    returns.do_update_settings(owner_of(shop), return_name="售后组", return_phone="0571-88880000",
                               return_address="杭州市仓前街道 8 号")
    keeper = make_staff(shop, Role.WAREHOUSE, display_name="仓管老张")
    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport=PHONE)
    shopper.goto(f"{base}/s/{shop.slug}/chat")
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    send(shopper, "鞋子开胶了")
    expect(shopper.locator(".msg.mine").filter(has_text="鞋子开胶了")).to_be_visible()
    conv = Conversation.objects.get(shop=shop)
    now = timezone.now()
    order = Order.objects.create(shop=shop, buyer_id=conv.customer_id, order_no="BR-RET-1",
                                 status=OrderStatus.DELIVERED, total_amount=Decimal("150"),
                                 paid_amount=Decimal("150"), created_at=now - dt.timedelta(days=4),
                                 paid_at=now - dt.timedelta(days=4), delivered_at=now - dt.timedelta(days=1))

    # the agent opens the case from the conversation's side panel
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 900})
    login(agent, base, lina)
    agent.locator("#conv-list .conv").first.click()
    section = agent.locator('[data-panel="aftersales-panel"]')
    expect(section.locator("select[name=order]")).to_be_visible()
    section.locator("select[name=kind]").select_option("return_refund")
    section.locator("select[name=reason]").select_option("quality")
    section.locator("input[name=description]").fill("鞋底开胶")
    section.get_by_role("button", name="开售后单").click()
    expect(section.locator(".returns-cases")).to_contain_text("待审核")
    case = ReturnCase.objects.get(order=order)
    assert case.postage_payer == "shop"

    agent.goto(f"{base}/aftersales/cases/{case.pk}")
    expect(agent.locator(".postage")).to_contain_text("店铺承担")
    agent.get_by_role("button", name="同意").click()
    agent.get_by_role("button", name="发送退货地址").click()
    expect(agent.locator("h1")).to_contain_text("待买家退货")

    # the shopper gets the address card and enters the parcel on the phone
    link = shopper.locator(".msg a.card-link").filter(has_text="填写退货运单")
    expect(link).to_be_visible()
    expect(shopper.locator(".msg").filter(has_text="仓前街道")).to_have_count(1)
    form = new_page(browser, dialogs, viewport=PHONE)
    form.goto(base + link.get_attribute("href"))
    form.fill("input[name=carrier]", "中通")
    form.fill("input[name=tracking_no]", "ZT7788")
    assert fits_the_phone(form.get_by_role("button", name="提交运单"))
    form.get_by_role("button", name="提交运单").click()
    expect(form.locator(".done")).to_contain_text("ZT7788")

    # the warehouse confirms receipt, the agent refunds
    store = new_page(browser, dialogs, viewport={"width": 1200, "height": 900})
    store.goto(f"{base}/desk/login")
    store.fill("input[name=username]", keeper.user.username)
    store.fill("input[name=password]", PASSWORD)
    store.click("button[type=submit]")
    store.wait_for_load_state()
    store.goto(f"{base}/aftersales/cases/{case.pk}")
    store.locator("form", has=store.locator("input[value=receive]")).locator("input[name=note]").fill("完好")
    store.get_by_role("button", name="确认收货").click()
    expect(store.locator("h1")).to_contain_text("已收到退货")
    agent.goto(f"{base}/aftersales/cases/{case.pk}")
    agent.get_by_role("button", name="退款").click()
    expect(agent.locator("h1")).to_contain_text("已退款")
    order.refresh_from_db()
    assert order.refunded_amount == Decimal("150.00") and order.status == OrderStatus.CLOSED
    assert [s.staff_id for s in ReturnCase.objects.get(pk=case.pk).steps.filter(action="receive")] == [keeper.pk]

    # resolved: the rating card, answered on the phone
    chat_services.do_resolve(lina, Conversation.objects.get(pk=conv.pk))
    deliver_all()
    rate = shopper.locator(".msg a.card-link").filter(has_text="去评价")
    expect(rate).to_be_visible()
    survey_page = new_page(browser, dialogs, viewport=PHONE)
    survey_page.goto(base + rate.get_attribute("href"))
    survey_page.locator(".stars label").nth(4).click()
    survey_page.fill("textarea[name=comment]", "处理很快")
    submit = survey_page.get_by_role("button", name="提交评价")
    assert fits_the_phone(submit) and fits_the_phone(survey_page.locator(".stars"))
    submit.click()
    expect(survey_page.locator(".done")).to_contain_text("5")
    survey = CsatSurvey.objects.get(conversation=conv)
    assert (survey.rating, survey.comment, survey.served_by_id) == (5, "处理很快", lina.pk)
    assert dialogs == []
