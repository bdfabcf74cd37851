"""The customers page in a real browser (issue 11): a supervisor filters the list, saves the
filter as a segment, exports the segment, and the downloaded file holds exactly the filtered
customers (formula escape included); the export is logged."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.test_browser import CHROMIUM, TIMEOUT, browser, new_page  # noqa: F401 - fixtures
from xiaoer.accounts.models import Role
from xiaoer.crm.models import CustomerValue, ExportLog, Segment
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import Customer
from xiaoer.testing import PASSWORD, make_shop, make_staff, owner_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page, name: str) -> None:
    if os.environ.get("XIAOER_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["XIAOER_SHOTS"], f"{name}.png"), full_page=True)


def _buyer(shop, buyer_id: str, name: str, city: str, paid: str) -> Customer:
    customer = Customer.objects.create(shop=shop, buyer_id=buyer_id, name=name, city=city)
    CustomerValue.objects.create(customer=customer, shop=shop, paid_orders=1, total_paid=Decimal(paid),
                                 last_purchase_at=timezone.now() - dt.timedelta(days=3), rfm_segment="重要价值")
    return customer


def test_filter_save_as_segment_and_export(browser, live_chat_server):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    shop = make_shop(name="顾客店")
    supervisor = make_staff(shop, Role.SUPERVISOR, display_name="赵主管")
    vip = customer_services.do_save_tag(owner_of(shop), name="老顾客")
    for buyer_id, name, city, paid, tagged in (("tb_1", "张三", "杭州", "300", True),
                                               ("tb_2", "=SUM(A1)", "杭州", "800", True),
                                               ("tb_3", "李四", "杭州", "100", False),
                                               ("tb_4", "王五", "上海", "900", True)):
        customer = _buyer(shop, buyer_id, name, city, paid)
        if tagged:
            customer_services.do_tag(owner_of(shop), customer, vip)

    page = new_page(browser, [], accept_downloads=True)
    page.goto(f"{live_chat_server}/desk/login")
    page.fill("input[name=username]", supervisor.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/desk$"))
    page.click("nav.topnav >> text=顾客")
    page.wait_for_url(re.compile(r".*/customers/$"))
    expect(page.locator("#customer-rows .customer-row")).to_have_count(4)

    page.fill("#customer-filters input[name=city]", "杭州")
    page.select_option("#customer-filters select[name=tag]", label="老顾客")
    page.select_option("#customer-filters select[name=sort]", value="total_paid")
    page.click("#apply-filters")
    rows = page.locator("#customer-rows .customer-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("=SUM(A1)")  # 800 before 300

    page.fill("#save-segment input[name=name]", "杭州老顾客")
    page.click("#save-segment button[type=submit]")
    page.wait_for_url(re.compile(r".*/customers/\?segment=\d+$"))
    expect(page.locator("h1")).to_contain_text("杭州老顾客")
    expect(rows).to_have_count(2)
    shot(page, "customers-segment")
    segment = Segment.objects.get(shop=shop, name="杭州老顾客")
    assert segment.filters == {"city": "杭州", "tag": vip.pk, "sort": "total_paid"}

    with page.expect_download() as info:
        page.click("#export-button")
    download = info.value
    assert download.suggested_filename == f"customers-{segment.pk}.csv"
    content = open(download.path(), encoding="utf-8-sig").read()
    lines = list(csv.reader(io.StringIO(content)))
    assert lines[0][:2] == ["买家ID", "姓名"]
    assert [(row[0], row[1], row[7]) for row in lines[1:]] == [("tb_2", "'=SUM(A1)", "800.00"),
                                                             ("tb_1", "张三", "300.00")]
    log = ExportLog.objects.get(shop=shop)
    assert (log.staff_id, log.segment_id, log.row_count) == (supervisor.pk, segment.pk, 2)
    page.reload()
    expect(page.locator("text=杭州老顾客 · csv")).to_have_count(1)  # the export's log line
    page.click("#customer-rows >> text=张三")
    expect(page.locator("#timeline")).to_contain_text("打标签")
    shot(page, "customer-page")
