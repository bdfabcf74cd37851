"""Customers: identities per shop, shop-level notes (services) and the workbench's customer panel."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from xiaoer.accounts.models import Role
from xiaoer.chat import services as chat_services
from xiaoer.customers import services
from xiaoer.customers.models import Customer, CustomerNote
from xiaoer.testing import client_for, make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    shop = make_shop()
    agent = make_staff(shop, Role.AGENT, display_name="阿美")
    seat = make_seat(shop, "小美", operator=agent)
    customer = services.get_or_create_buyer(shop, "tb_zhang", name="张三")
    conv = chat_services.get_or_create_conversation(shop, customer)
    return {"shop": shop, "agent": agent, "seat": seat, "customer": customer, "conv": conv}


def test_buyer_and_visitor_identities_are_one_row_per_shop():
    shop, other = make_shop(), make_shop()
    first = services.get_or_create_buyer(shop, "tb_li")
    assert services.get_or_create_buyer(shop, "tb_li", name="李四") == first
    first.refresh_from_db()
    assert first.name == "李四"  # a name learnt later fills the blank
    services.get_or_create_buyer(shop, "tb_li", name="别的名字")
    first.refresh_from_db()
    assert first.name == "李四"  # never overwritten
    assert services.get_or_create_buyer(other, "tb_li") != first  # same id in another shop: another person
    visitor = services.get_or_create_visitor(shop, "v-1")
    assert services.get_or_create_visitor(shop, "v-1") == visitor and visitor.buyer_id is None
    assert Customer.objects.filter(shop=shop).count() == 2
    assert services.get_or_create_buyer(shop, "tb_long", name="名" * 300).name == "名" * 100


def test_touch_records_the_last_visit(desk):
    assert desk["customer"].last_seen_at is None
    services.do_touch(desk["customer"])
    desk["customer"].refresh_from_db()
    assert desk["customer"].last_seen_at is not None


def test_access_customer_is_for_chat_roles_of_the_same_shop(desk):
    assert services.access_customer(desk["agent"], desk["customer"].pk) == desk["customer"]
    with pytest.raises(PermissionDenied):
        services.access_customer(make_staff(desk["shop"], Role.WAREHOUSE), desk["customer"].pk)
    with pytest.raises(Http404):
        services.access_customer(make_staff(make_shop(), Role.OWNER), desk["customer"].pk)
    with pytest.raises(Http404):
        services.access_customer(desk["agent"], "not-a-number")


def test_notes_are_checked_and_belong_to_the_shop(desk):
    agent, customer, seat = desk["agent"], desk["customer"], desk["seat"]
    note = services.do_add_note(agent, customer, "  喜欢黑色，发顺丰  ", seat=seat)
    assert (note.text, note.shop_id, note.author, note.seat) == ("喜欢黑色，发顺丰", desk["shop"].pk, agent, seat)
    for bad in ("", "   ", "字" * (services.NOTE_MAX_CHARS + 1)):
        with pytest.raises(ValidationError):
            services.do_add_note(agent, customer, bad)
    assert len(services.check_note_text("字" * services.NOTE_MAX_CHARS)) == services.NOTE_MAX_CHARS
    with pytest.raises(PermissionDenied):
        services.do_add_note(make_staff(desk["shop"], Role.AFTERSALES), customer, "x")
    stranger = make_staff(make_shop(), Role.OWNER)
    with pytest.raises(Http404):
        services.do_add_note(stranger, customer, "x")
    with pytest.raises(Http404):  # a seat of another shop
        services.do_add_note(agent, customer, "x", seat=make_seat(stranger.shop))
    # The note outlives a change of seat operator: it is the shop's.
    other_agent = make_staff(desk["shop"], Role.AGENT)
    assert [n.text for n in services.notes_for(customer)] == ["喜欢黑色，发顺丰"]
    services.do_add_note(other_agent, customer, "第二条")
    assert {n.text for n in services.notes_for(customer)} == {"喜欢黑色，发顺丰", "第二条"}
    assert CustomerNote.objects.filter(customer=customer).count() == 2


def test_panel_shows_the_profile_and_notes_escaped(desk):
    customer = desk["customer"]
    customer.phone = "13800001111"
    customer.save()
    services.do_add_note(desk["agent"], customer, "<script>alert(1)</script>老顾客", seat=desk["seat"])
    res = client_for(desk["agent"]).get(f"/desk/c/{desk['conv'].pk}/panel/customer")
    assert res.status_code == 200
    page = res.content.decode()
    # An agent sees the phone masked (PHONE_VISIBLE_ROLES: owner and supervisor see it whole).
    assert "张三" in page and "tb_zhang" in page and "138****1111" in page and "13800001111" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;老顾客" in page and "<script>alert(1)" not in page
    assert "小美" in page and "阿美" in page  # the note says which seat and person wrote it


def test_panel_adds_a_note_as_the_conversations_seat_and_shows_errors(desk):
    client = client_for(desk["agent"])
    url = f"/desk/c/{desk['conv'].pk}/panel/customer"
    page = client.post(url, {"text": "要发票"}).content.decode()
    assert "要发票" in page
    note = CustomerNote.objects.get(customer=desk["customer"])
    assert note.author == desk["agent"] and note.seat == desk["seat"]
    page = client.post(url, {"text": "   "}).content.decode()
    assert "备注不能为空" in page
    assert CustomerNote.objects.filter(customer=desk["customer"]).count() == 1


def test_panel_of_another_shops_conversation_is_not_found(desk):
    outsider = make_staff(make_shop(), Role.OWNER)
    url = f"/desk/c/{desk['conv'].pk}/panel/customer"
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(outsider).post(url, {"text": "x"}).status_code == 404
    assert not CustomerNote.objects.exists()
