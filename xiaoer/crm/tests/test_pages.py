"""The customers pages (issue 11): list with search/filters/sort/pages, segments, logged exports,
the customer page with its timeline, settings pages and the workbench's 顾客画像 panel."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from xiaoer.accounts.models import Role
from xiaoer.chat import services as chat_services
from xiaoer.crm import listing, timeline
from xiaoer.crm.models import CustomerValue, ExportLog, LevelRule, Segment
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import Customer
from xiaoer.orders.models import Order
from xiaoer.testing import client_for, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def _buyer(shop, buyer_id: str, name: str, *, paid: str | None = None, orders: int = 0, days_ago: int = 0,
           segment: str = "", level: int = 0, city: str = "", phone: str = "", month: int | None = None) -> Customer:
    customer = Customer.objects.create(shop=shop, buyer_id=buyer_id, name=name, city=city, phone=phone,
                                       birthday_month=month, birthday_day=1 if month else None)
    if paid is not None:
        CustomerValue.objects.create(customer=customer, shop=shop, paid_orders=orders, total_paid=Decimal(paid),
                                     last_purchase_at=NOW - dt.timedelta(days=days_ago), rfm_segment=segment,
                                     level=level)
    return customer


@pytest.fixture
def world(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # four logins a test
    shop = make_shop(name="顾客店")
    owner = owner_of(shop)
    people = {"owner": owner, "supervisor": make_staff(shop, Role.SUPERVISOR), "agent": make_staff(shop, Role.AGENT),
              "warehouse": make_staff(shop, Role.WAREHOUSE)}
    vip = customer_services.do_save_tag(owner, name="VIP", colour="#ff0000")
    size = customer_services.do_save_attribute(owner, key="size", label="尺码", kind="choice", choices="S,M,L")
    zhang = _buyer(shop, "tb_zhang", "张三", paid="900.00", orders=3, days_ago=5, segment="重要价值", level=2,
                   city="杭州", phone="13800138000", month=5)
    li = _buyer(shop, "tb_li", "李四", paid="120.00", orders=1, days_ago=200, segment="一般挽留", level=1, city="上海")
    wang = _buyer(shop, "tb_wang", "=HYPERLINK(\"x\")", paid="450.00", orders=2, days_ago=40, segment="重要发展",
                  level=1, city="杭州")
    visitor = Customer.objects.create(shop=shop, visitor_id="v-1")
    customer_services.do_tag(owner, zhang, vip)
    customer_services.do_tag(owner, wang, vip)
    customer_services.do_set_attribute_value(owner, li, size, "M")
    customer_services.do_add_contact(owner, li, "phone", "13912345678")
    return {"shop": shop, **people, "vip": vip, "zhang": zhang, "li": li, "wang": wang, "visitor": visitor,
            "clients": {role: client_for(staff) for role, staff in people.items()}}


def names(res) -> list[str]:
    return [row.display_name for row in res.context["page"]["rows"]]


def test_agents_see_the_list_sorted_by_value_with_phones_masked(world):
    res = world["clients"]["agent"].get("/customers/", {"sort": "total_paid"})
    assert res.status_code == 200
    assert names(res) == ["张三", "=HYPERLINK(\"x\")", "李四"]  # buyers with a value, richest first
    text = res.content.decode()
    assert "138****8000" in text and "13800138000" not in text
    assert "=HYPERLINK(&quot;x&quot;)" in text  # escaped on the page
    assert len(names(world["clients"]["agent"].get("/customers/"))) == 4  # the plain list has everyone
    assert world["clients"]["warehouse"].get("/customers/").status_code == 403
    assert 'id="export-form"' not in text and 'id="save-segment"' not in text  # supervisors' tools
    assert 'id="export-form"' in world["clients"]["supervisor"].get("/customers/").content.decode()


@pytest.mark.parametrize(("query", "expected"), [
    ({"tag": "VIP"}, {"张三", "=HYPERLINK(\"x\")"}),
    ({"city": "杭州", "sort": "last_purchase"}, {"张三", "=HYPERLINK(\"x\")"}),
    ({"rfm": "一般挽留"}, {"李四"}),
    ({"level": "2"}, {"张三"}),
    ({"birthday_month": "5"}, {"张三"}),
    ({"attr": "size", "attr_value": "M"}, {"李四"}),
    ({"q": "张"}, {"张三"}),
    ({"q": "tb_li"}, {"李四"}),
    ({"q": "8000"}, {"张三"}),  # the tail of the default phone
    ({"q": "5678"}, {"李四"}),  # the tail of another phone of theirs
    ({"last_from": (NOW - dt.timedelta(days=60)).date().isoformat(),
      "last_to": (NOW - dt.timedelta(days=1)).date().isoformat()}, {"张三", "=HYPERLINK(\"x\")"}),
])
def test_each_filter(world, query, expected):
    if query.get("tag") == "VIP":
        query = {**query, "tag": world["vip"].pk}
    res = world["clients"]["agent"].get("/customers/", query)
    assert res.status_code == 200
    assert set(names(res)) == expected


def test_a_bad_filter_is_explained_not_a_crash(world):
    res = world["clients"]["agent"].get("/customers/", {"birthday_month": "13"})
    assert res.status_code == 400 and "生日月份" in res.content.decode()


def test_pages_are_limited_and_link_forward(world):
    shop = world["shop"]
    Customer.objects.bulk_create([Customer(shop=shop, buyer_id=f"b{n}", name=f"顾客{n}") for n in range(60)])
    client = world["clients"]["agent"]
    first = client.get("/customers/")
    assert len(names(first)) == listing.PAGE_SIZE and first.context["page"]["has_next"]
    assert first.context["page"]["count"] is None  # more to come: no COUNT(*) over the shop
    second = client.get("/customers/", {"page": 2})
    assert len(names(second)) == 64 - listing.PAGE_SIZE and not second.context["page"]["has_next"]
    assert second.context["page"]["count"] == 64  # the last page knows the total
    assert not set(names(first)) & set(names(second))
    assert client.get("/customers/", {"page": 99999}).status_code == 200  # clamped, not an error


def test_segment_saved_by_a_supervisor_then_exported_and_logged(world):
    sup = world["clients"]["supervisor"]
    res = sup.post("/customers/segments", {"name": "杭州老客", "city": "杭州", "tag": world["vip"].pk})
    segment = Segment.objects.get(shop=world["shop"], name="杭州老客")
    assert res.status_code == 302 and res["Location"].endswith(f"?segment={segment.pk}")
    assert segment.filters == {"city": "杭州", "tag": world["vip"].pk}
    listed = world["clients"]["agent"].get("/customers/", {"segment": segment.pk})
    assert set(names(listed)) == {"张三", "=HYPERLINK(\"x\")"}
    assert world["clients"]["agent"].post(f"/customers/segments/{segment.pk}/export").status_code == 403
    assert world["clients"]["agent"].post("/customers/segments", {"name": "x"}).status_code == 403
    res = sup.post(f"/customers/segments/{segment.pk}/export", {"format": "csv"})
    assert res.status_code == 200 and res["Content-Disposition"].endswith('.csv"')
    rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    assert rows[0] == list(listing.EXPORT_HEADER)
    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {"tb_zhang", "tb_wang"}
    assert by_id["tb_wang"][1] == "'=HYPERLINK(\"x\")"  # the formula escape
    assert by_id["tb_zhang"][2] == "13800138000" and by_id["tb_zhang"][9] == "VIP"  # supervisors see phones
    log = ExportLog.objects.get(shop=world["shop"])
    assert (log.staff, log.segment, log.row_count, log.file_format) == (world["supervisor"], segment, 2, "csv")


def test_export_of_the_current_filter_as_xlsx(world):
    from openpyxl import load_workbook

    res = world["clients"]["owner"].post("/customers/export", {"rfm": "一般挽留", "format": "xlsx"})
    assert res.status_code == 200
    sheet = load_workbook(io.BytesIO(res.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "买家ID" and [r[0] for r in rows[1:]] == ["tb_li"]
    assert ExportLog.objects.get(shop=world["shop"]).row_count == 1
    assert world["clients"]["agent"].post("/customers/export", {"format": "csv"}).status_code == 403
    assert ExportLog.objects.count() == 1


def test_the_customer_page_edits_and_shows_the_timeline(world):
    zhang, agent = world["zhang"], world["clients"]["agent"]
    conv = chat_services.get_or_create_conversation(world["shop"], zhang)
    Order.objects.create(shop=world["shop"], order_no="NO-1", buyer=zhang, total_amount=Decimal("99"),
                         created_at=NOW - dt.timedelta(days=3))
    url = f"/customers/{zhang.pk}/"
    assert agent.post(url, {"action": "note", "text": "喜欢<b>宽松</b>"}).status_code == 302
    assert agent.post(url, {"action": "profile", "name": "张三丰", "city": "杭州", "qq": "", "wechat": "zs",
                            "gender": "male", "birth_date": "", "birthday_month": "5", "birthday_day": "1",
                            "age_band": ""}).status_code == 302
    assert agent.post(url, {"action": "add_contact", "kind": "email", "value": "zs@example.com"}).status_code == 302
    bad = agent.post(url, {"action": "add_contact", "kind": "phone", "value": "abc"})
    assert bad.status_code == 400 and "电话号码" in bad.content.decode()
    res = agent.get(url)
    text = res.content.decode()
    assert res.status_code == 200 and "张三丰" in text and "zs@example.com" in text
    assert "&lt;b&gt;宽松&lt;/b&gt;" in text and "138****8000" in text
    kinds = [entry.kind for entry in res.context["timeline"]]
    assert {"conversation", "order", "note", "tag"} <= set(kinds)
    assert res.context["timeline"][0].at >= res.context["timeline"][-1].at
    assert conv.pk  # the conversation shows as an entry above
    assert world["clients"]["warehouse"].get(url).status_code == 403


def test_the_timeline_takes_providers_from_other_areas(world):
    def reminders(customer, limit):  # a kind no area registers, so the real providers stay in place
        yield timeline.Entry(at=NOW, kind="test-reminder", title="催付提醒 · 测试")

    timeline.register("test-reminder", reminders)
    try:
        res = world["clients"]["agent"].get(f"/customers/{world['li'].pk}/")
        assert "催付提醒 · 测试" in res.content.decode()
    finally:
        timeline._providers.pop("test-reminder")


def test_another_shops_customer_is_not_found(world):
    other = _buyer(make_shop(), "tb_x", "别店顾客")
    assert world["clients"]["owner"].get(f"/customers/{other.pk}/").status_code == 404


def test_side_panel_shows_level_segment_and_tags_and_tags_from_there(world):
    LevelRule.objects.create(shop=world["shop"], level=2, name="金卡", threshold=Decimal("500"))
    li = world["li"]
    conv = chat_services.get_or_create_conversation(world["shop"], li)
    client = world["clients"]["agent"]
    url = f"/desk/c/{conv.pk}/profile"
    res = client.get(url)
    assert res.status_code == 200 and "一般挽留" in res.content.decode() and f"/customers/{li.pk}/" in res.content.decode()
    res = client.post(url, {"action": "tag", "tag": world["vip"].pk})
    assert res.status_code == 200 and "VIP" in res.content.decode()
    assert [t.name for t in customer_services.tags_of(li)] == ["VIP"]
    client.post(url, {"action": "untag", "tag": world["vip"].pk})
    assert customer_services.tags_of(li) == []
    zhang_conv = chat_services.get_or_create_conversation(world["shop"], world["zhang"])
    assert "金卡" in client.get(f"/desk/c/{zhang_conv.pk}/profile").content.decode()
    panels = client.get(f"/desk/c/{conv.pk}/panels/").content.decode()
    assert "顾客画像" in panels and url in panels


def test_levels_page_for_supervisors(world):
    sup = world["clients"]["supervisor"]
    res = sup.post("/customers/levels", {"name": ["银卡", "金卡", ""], "basis": ["total_paid"] * 3,
                                         "threshold": ["100", "500", ""]})
    assert res.status_code == 302
    assert [(r.level, r.name, r.threshold) for r in LevelRule.objects.filter(shop=world["shop"])] == [
        (1, "银卡", Decimal("100.00")), (2, "金卡", Decimal("500.00"))]
    bad = sup.post("/customers/levels", {"name": ["银卡", "金卡"], "basis": ["total_paid"] * 2,
                                         "threshold": ["500", "100"]})
    assert bad.status_code == 400 and LevelRule.objects.filter(shop=world["shop"]).count() == 2
    assert world["clients"]["agent"].get("/customers/levels").status_code == 403


def test_tags_and_attributes_pages(world):
    owner = world["clients"]["owner"]
    assert owner.post("/customers/tags", {"name": "<i>新客</i>", "colour": "#00ff00"}).status_code == 302
    assert "&lt;i&gt;新客&lt;/i&gt;" in owner.get("/customers/tags").content.decode()
    assert owner.post(f"/customers/tags/{world['vip'].pk}", {"action": "delete"}).status_code == 302
    assert owner.post("/customers/attributes", {"label": "鞋码", "key": "shoe", "kind": "number"}).status_code == 302
    assert "鞋码" in owner.get("/customers/attributes").content.decode()
    assert world["clients"]["agent"].get("/customers/tags").status_code == 403
