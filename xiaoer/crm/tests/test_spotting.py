"""Attributes spotted in chat: the durable listener, proposals, confirm and dismiss (services, API, pages)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from xiaoer.accounts.models import Role
from xiaoer.chat import writer
from xiaoer.chat.tests.chatkit import add_conversation, make_scene
from xiaoer.crm import hints
from xiaoer.crm.models import AttributeProposal, ProposalState
from xiaoer.customers.models import CustomerAttributeValue, CustomerContact
from xiaoer.events import delivery
from xiaoer.events.testing import deliver_all
from xiaoer.testing import client_for, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


def say(conv, body: str, sender_kind: str = "shopper", **kwargs) -> None:
    writer.post_message_sync(conv.pk, sender_kind=sender_kind, body=body, **kwargs)
    deliver_all()


def pending(customer) -> dict[str, str]:
    return {p.kind: p.value for p in hints.pending_proposals(customer)}


def test_a_shopper_message_proposes_what_it_states():
    scene = make_scene()
    say(scene.conversation, "收件人张丽 15057123456 浙江省杭州市西湖区文三路478号 身高165 体重110斤 邮箱 zl@163.com")
    assert pending(scene.customer) == {"phone": "15057123456", "address": "浙江省杭州市西湖区文三路478号",
                                       "height": "165", "weight": "55", "email": "zl@163.com"}
    proposal = AttributeProposal.objects.get(customer=scene.customer, kind="phone")
    assert proposal.conversation_id == scene.conversation.pk and "15057123456" in proposal.excerpt
    assert proposal.parts == {"type": "mobile"}


def test_staff_and_internal_messages_and_order_numbers_propose_nothing():
    scene = make_scene()
    say(scene.conversation, "我的电话是13812345678", sender_kind="agent", seat_id=scene.seat.pk,
        staff_id=scene.agent.pk)
    say(scene.conversation, "订单号 202311158867123456 价格199元", sender_kind="shopper")
    assert pending(scene.customer) == {}


def test_the_listener_is_idempotent_on_replay():
    scene = make_scene()
    say(scene.conversation, "手机 139 1234 5678")
    delivery.replay("crm.spot_attributes")
    deliver_all()
    assert AttributeProposal.objects.filter(customer=scene.customer).count() == 1


def test_a_value_is_proposed_once_even_after_dismissal_and_never_when_the_profile_has_it():
    scene = make_scene()
    scene.customer.wechat = "lily_2019"
    scene.customer.save()
    say(scene.conversation, "微信号 lily_2019 电话13812345678")
    assert pending(scene.customer) == {"phone": "13812345678"}
    hints.do_dismiss_proposal(scene.agent, hints.pending_proposals(scene.customer)[0])
    say(scene.conversation, "再说一遍 电话13812345678")
    assert pending(scene.customer) == {}
    assert AttributeProposal.objects.get(customer=scene.customer).state == ProposalState.DISMISSED


def test_confirm_writes_the_profile_fact_and_its_record():
    scene = make_scene()
    say(scene.conversation, "电话13812345678，地址 上海市浦东新区张江路88弄5号301室，我平时穿M，生日是5月20号，我是女生")
    by_kind = {p.kind: p for p in hints.pending_proposals(scene.customer)}
    for kind in ("phone", "address", "size", "birthday", "gender"):
        hints.do_confirm_proposal(scene.agent, by_kind[kind])
    customer = scene.customer
    customer.refresh_from_db()
    assert (customer.phone, customer.city, customer.gender) == ("13812345678", "上海", "female")
    assert (customer.birthday_month, customer.birthday_day, customer.birthday_lunar) == (5, 20, False)
    address = CustomerContact.objects.get(customer=customer, kind="address")
    assert (address.province, address.district, address.is_default) == ("上海市", "浦东新区", True)
    assert customer.address == address.value == "上海市浦东新区张江路88弄5号301室"
    assert CustomerAttributeValue.objects.get(customer=customer, attribute__key="size_worn").value == "M"
    fact = AttributeProposal.objects.get(customer=customer, kind="phone")
    assert (fact.state, fact.decided_by, fact.confirmed_value) == ("confirmed", scene.agent, "13812345678")
    assert fact.decided_at is not None and fact.message_id
    assert [f.kind for f in hints.confirmed_facts(customer)].count("phone") == 1


def test_confirm_with_an_edit_checks_the_value():
    scene = make_scene()
    say(scene.conversation, "身高一米六五 体重一百斤")
    height = AttributeProposal.objects.get(customer=scene.customer, kind="height")
    with pytest.raises(ValidationError):
        hints.do_confirm_proposal(scene.agent, height, "很高")
    hints.do_confirm_proposal(scene.agent, height, "166")
    value = CustomerAttributeValue.objects.get(customer=scene.customer, attribute__key="height_cm")
    assert value.value == "166"
    with pytest.raises(ValidationError):  # decided once
        hints.do_confirm_proposal(scene.agent, height, "170")


def test_a_second_phone_is_kept_but_not_the_default():
    scene = make_scene()
    say(scene.conversation, "电话13812345678")
    hints.do_confirm_proposal(scene.agent, hints.pending_proposals(scene.customer)[0])
    say(scene.conversation, "换了新号 16612340000")
    hints.do_confirm_proposal(scene.agent, hints.pending_proposals(scene.customer)[0])
    phones = dict(CustomerContact.objects.filter(customer=scene.customer, kind="phone").values_list("value",
                                                                                                  "is_default"))
    assert phones == {"13812345678": True, "16612340000": False}
    scene.customer.refresh_from_db()
    assert scene.customer.phone == "13812345678"


@pytest.mark.parametrize("role", [Role.WAREHOUSE, Role.AFTERSALES])
def test_roles_that_do_not_chat_cannot_confirm_or_dismiss(role):
    scene = make_scene()
    say(scene.conversation, "电话13812345678")
    proposal = hints.pending_proposals(scene.customer)[0]
    other = make_staff(scene.shop, role)
    with pytest.raises(PermissionDenied):
        hints.access_proposal(other, proposal.pk)
    with pytest.raises(PermissionDenied):
        hints.do_confirm_proposal(other, proposal)
    with pytest.raises(PermissionDenied):
        hints.do_dismiss_proposal(other, proposal)


def test_another_shops_proposal_is_not_found():
    scene = make_scene()
    say(scene.conversation, "电话13812345678")
    proposal = hints.pending_proposals(scene.customer)[0]
    stranger = owner_of(make_shop())
    with pytest.raises(Http404):
        hints.access_proposal(stranger, proposal.pk)
    res = client_for(stranger).post(f"/api/crm/proposals/{proposal.pk}/confirm", "{}",
                                    content_type="application/json")
    assert res.status_code == 404
    proposal.refresh_from_db()
    assert proposal.state == "proposed"


def test_the_api_masks_phones_for_agents_and_confirms():
    scene = make_scene()
    say(scene.conversation, "电话13812345678")
    agent = client_for(scene.agent)
    rows = agent.get(f"/api/crm/customers/{scene.customer.pk}/proposals").json()
    assert rows[0]["value"] == "138****5678" and "13812345678" not in json.dumps(rows)
    owner_rows = client_for(owner_of(scene.shop)).get(f"/api/crm/customers/{scene.customer.pk}/proposals").json()
    assert owner_rows[0]["value"] == "13812345678"
    res = agent.post(f"/api/crm/proposals/{rows[0]['id']}/confirm", "{}", content_type="application/json")
    assert res.status_code == 200 and res.json()["state"] == "confirmed"
    scene.customer.refresh_from_db()
    assert scene.customer.phone == "13812345678"


def test_the_side_panel_shows_proposals_and_confirms_with_an_edit():
    scene = make_scene()
    say(scene.conversation, "邮箱 Wang.Fei@QQ.com 发票发这个 <b>x</b>")
    client = client_for(scene.agent)
    page = client.get(f"/desk/c/{scene.conversation.pk}/profile-hints").content.decode()
    assert "wang.fei@qq.com" in page and "<b>x</b>" not in page and "&lt;b&gt;" in page
    proposal = hints.pending_proposals(scene.customer)[0]
    res = client.post(f"/desk/crm/proposals/{proposal.pk}/confirm", {"value": "wf@qq.com"})
    assert res.status_code == 200 and "wf@qq.com" in res.content.decode()
    scene.customer.refresh_from_db()
    assert scene.customer.email == "wf@qq.com"
    bad = client.post(f"/desk/crm/proposals/{proposal.pk}/dismiss")
    assert bad.status_code == 422


def test_spotting_reads_only_its_shops_customer():
    scene = make_scene()
    _customer, other_conv, _token = add_conversation(scene.shop, scene.seat)
    say(other_conv, "电话13812345678")
    assert pending(scene.customer) == {}
    assert AttributeProposal.objects.get().customer_id == other_conv.customer_id


@pytest.mark.parametrize(("text", "kind", "edit"), [
    ("电话13812345678", "phone", "12345"),
    ("生日是5月20号", "birthday", "02-30"),
    ("我是女生", "gender", "other"),
    ("邮箱 zl@163.com", "email", "not-an-email"),
    ("平时穿M码", "size", "M<script>"),
])
def test_an_edit_that_is_not_a_value_of_its_kind_is_refused(text, kind, edit):
    scene = make_scene()
    say(scene.conversation, text)
    proposal = AttributeProposal.objects.get(customer=scene.customer, kind=kind)
    owner = owner_of(scene.shop)
    with pytest.raises(ValidationError):
        hints.do_confirm_proposal(owner, proposal, edit)
    proposal.refresh_from_db()
    assert proposal.state == "proposed"


def test_a_lunar_birthday_with_its_year_keeps_no_solar_birth_date():
    scene = make_scene()
    say(scene.conversation, "我阴历腊月初八过生")
    proposal = AttributeProposal.objects.get(customer=scene.customer, kind="birthday")
    assert proposal.value == "12-08 农历"
    hints.do_confirm_proposal(scene.agent, proposal, "1990-12-08 农历")
    scene.customer.refresh_from_db()
    assert (scene.customer.birthday_month, scene.customer.birthday_day, scene.customer.birthday_lunar,
            scene.customer.birth_date) == (12, 8, True, None)
