"""Returns and exchanges: the state machine (every illegal step refused with a clear error), the
postage table, the refund bound and the order following it, roles, notices, the return card."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.test import Client
from django.utils import timezone

from xiaoer.aftersales import returns
from xiaoer.aftersales.models import CaseState, ReturnCase
from xiaoer.chat.models import Message
from xiaoer.events.testing import deliver_all
from xiaoer.notify.models import Notice
from xiaoer.orders.models import Order, OrderChange, OrderStatus

from .returnkit import ReturnWorld


@pytest.fixture
def w(db) -> ReturnWorld:
    return ReturnWorld()


def test_return_and_refund_walks_every_state_with_person_seat_and_time(w):
    order = w.order("300.00")
    case = w.open(order, amount="120")
    assert case.state == CaseState.REQUESTED and case.postage_payer == "shop"
    case = returns.do_approve(w.agent, case)
    case = returns.do_send_return_address(w.agent, case)
    assert case.state == CaseState.AWAITING_RETURN
    card = Message.objects.get(conversation=w.conversation, kind="card", payload__type="return_address")
    assert "仓前街道" in card.body and card.payload["case"] == case.pk
    # the shopper enters the parcel through the card's link
    res = Client().post(card.payload["url"], {"carrier": "中通", "tracking_no": "ZT<b>123"})
    assert res.status_code == 200 and "ZT&lt;b&gt;123" in res.content.decode()
    case = returns.do_confirm_receipt(w.warehouse, ReturnCase.objects.get(pk=case.pk), "完好")
    assert case.state == CaseState.RECEIVED and case.refund_due_at > case.received_at
    case = returns.do_refund(w.agent, case)
    case = returns.do_close(w.agent, case)
    assert case.state == CaseState.CLOSED
    steps = list(case.steps.values_list("action", "to_state", "staff_id", "by_shopper"))
    assert [s[0] for s in steps] == ["open", "approve", "send_address", "return_tracking", "receive", "refund",
                                     "close"]
    assert steps[3][2] is None and steps[3][3] is True
    assert steps[4][2] == w.warehouse.pk
    assert case.steps.get(action="approve").seat_id == w.seat.pk
    assert all(s.at is not None for s in case.steps.all())
    order.refresh_from_db()
    assert order.refunded_amount == Decimal("120.00") and order.status == OrderStatus.DELIVERED  # partial
    assert OrderChange.objects.filter(order=order, kind="refund").count() == 1
    # the shopper heard of every state reached (chat here), each notice once
    templates = set(Notice.objects.filter(key__startswith=f"aftersales-{case.pk}-").values_list("template", flat=True))
    assert {"aftersales_requested", "aftersales_approved", "aftersales_received", "aftersales_refunded",
            "aftersales_closed"} <= templates
    assert Notice.objects.get(template="aftersales_refunded").body.count("120.00") == 1


def test_every_illegal_transition_is_refused_in_chinese(w):
    actions = {
        "approve": lambda c: returns.do_approve(w.owner, c),
        "reject": lambda c: returns.do_reject(w.owner, c, "超出售后期"),
        "send_address": lambda c: returns.do_send_return_address(w.owner, c),
        "receive": lambda c: returns.do_confirm_receipt(w.owner, c),
        "refund": lambda c: returns.do_refund(w.owner, c, "1"),
        "ship_replacement": lambda c: returns.do_ship_replacement(w.owner, c, carrier="顺丰", tracking_no="SF1"),
        "close": lambda c: returns.do_close(w.owner, c),
    }
    refused = 0
    for kind in ("refund_only", "return_refund", "exchange", "reissue"):
        for state in CaseState.values:
            case = w.open(kind=kind, amount="1" if kind in ("refund_only", "return_refund") else None)
            ReturnCase.objects.filter(pk=case.pk).update(state=state)
            for action, run in actions.items():
                allowed = returns.TRANSITIONS.get((action, state))
                if allowed is not None and (allowed[1] is None or kind in allowed[1]):
                    continue
                with pytest.raises(ValidationError) as err, transaction.atomic():
                    run(ReturnCase.objects.get(pk=case.pk))
                assert "当前" in err.value.messages[0] and "不能" in err.value.messages[0]
                assert ReturnCase.objects.get(pk=case.pk).state == state
                refused += 1
    assert refused > 150


def test_kinds_take_their_own_paths(w):
    refund_only = returns.do_approve(w.agent, w.open(kind="refund_only", amount="50"))
    assert returns.do_refund(w.agent, refund_only).state == CaseState.REFUNDED
    reissue = returns.do_approve(w.agent, w.open(kind="reissue", reason="missing"))
    assert reissue.postage_payer == "none"
    assert returns.do_ship_replacement(w.warehouse, reissue, carrier="顺丰", tracking_no="SF9").state == \
        CaseState.REPLACEMENT_SHIPPED
    exchange = returns.do_approve(w.agent, w.open(kind="exchange", reason="size"))
    exchange = returns.do_send_return_address(w.agent, exchange)
    exchange = returns.do_confirm_receipt(w.warehouse, exchange)
    assert returns.do_ship_replacement(w.agent, exchange, carrier="顺丰", tracking_no="SF8").state == \
        CaseState.REPLACEMENT_SHIPPED


def test_rejection_needs_a_reason_the_shopper_is_told(w):
    case = w.open()
    with pytest.raises(ValidationError, match="原因"), transaction.atomic():
        returns.do_reject(w.agent, case, "  ")
    case = returns.do_reject(w.agent, case, "商品已使用")
    assert case.state == CaseState.REJECTED and case.reject_reason == "商品已使用"
    assert "商品已使用" in Notice.objects.get(template="aftersales_rejected").body


@pytest.mark.parametrize(("reason", "insurance", "payer", "rule"), [
    ("quality", False, "shop", "table_default"), ("wrong_item", False, "shop", "table_default"),
    ("damaged", False, "shop", "table_default"), ("missing", False, "shop", "table_default"),
    ("not_as_described", False, "shop", "table_default"), ("size", False, "buyer", "table_default"),
    ("colour", False, "buyer", "table_default"), ("no_reason", False, "buyer", "table_default"),
    ("other", False, "buyer", "table_default"), ("no_reason", True, "insurance", "insurance"),
    ("quality", True, "shop", "table_default"),
])
def test_postage_table(w, reason, insurance, payer, rule):
    returns.do_update_settings(w.owner, shipping_insurance=insurance)
    case = w.open(reason=reason)
    assert (case.postage_payer, case.postage_rule) == (payer, rule)
    assert case.postage_why


def test_the_shop_adjusts_the_table_and_an_override_needs_a_note(w):
    returns.do_update_settings(w.owner, postage_table={"size": "shop"})
    case = w.open(reason="size")
    assert (case.postage_payer, case.postage_rule) == ("shop", "table_shop") and "店铺规则" in case.postage_why
    with pytest.raises(ValidationError), transaction.atomic():
        returns.do_update_settings(w.owner, postage_table={"size": "nobody"})
    with pytest.raises(PermissionDenied), transaction.atomic():
        returns.do_update_settings(w.agent, shipping_insurance=True)
    with pytest.raises(ValidationError, match="说明"), transaction.atomic():
        returns.do_override_postage(w.agent, case, "buyer", "")
    case = returns.do_override_postage(w.agent, case, "buyer", "顾客同意自付")
    assert (case.postage_payer, case.postage_rule, case.postage_override_note) == ("buyer", "override", "顾客同意自付")
    assert case.steps.filter(action="override_postage").exists()


def test_no_reason_return_only_within_its_window(w):
    with pytest.raises(ValidationError, match="7 天"), transaction.atomic():
        w.open(w.order(delivered_days_ago=8), reason="no_reason")
    assert w.open(w.order(delivered_days_ago=6), reason="no_reason").postage_payer == "buyer"


def test_refund_never_above_paid_minus_refunded_never_negative(w):
    order = w.order("100.00")
    for bad in ("-1", "0", "abc", "100.01", "NaN", "1e30"):
        with pytest.raises(ValidationError), transaction.atomic():
            w.open(order, kind="refund_only", amount=bad)
    first = returns.do_approve(w.agent, w.open(order, kind="refund_only", amount="70"))
    second = returns.do_approve(w.agent, w.open(order, kind="refund_only", amount="30"))
    returns.do_refund(w.agent, first)
    with pytest.raises(ValidationError, match="30.00"), transaction.atomic():
        returns.do_refund(w.agent, ReturnCase.objects.get(pk=second.pk), "30.01")
    returns.do_refund(w.agent, ReturnCase.objects.get(pk=second.pk), "30")
    order.refresh_from_db()
    assert order.refunded_amount == Decimal("100.00") and order.status == OrderStatus.CLOSED
    with pytest.raises(ValidationError), transaction.atomic():
        w.open(order, kind="refund_only", amount="0.01")


def test_roles_warehouse_receipt_and_the_refund_limit(w):
    returns.do_update_settings(w.owner, agent_refund_limit="100")
    case = returns.do_send_return_address(w.agent, returns.do_approve(w.agent, w.open(amount="150")))
    for staff in (w.agent, w.supervisor, w.aftersales):
        with pytest.raises(PermissionDenied), transaction.atomic():
            returns.do_confirm_receipt(staff, case)
    with pytest.raises(PermissionDenied), transaction.atomic():
        returns.do_approve(w.warehouse, w.open())
    case = returns.do_confirm_receipt(w.warehouse, case, "外盒破损")
    with pytest.raises(PermissionDenied, match="主管"), transaction.atomic():
        returns.do_refund(w.agent, case)
    assert ReturnCase.objects.get(pk=case.pk).state == CaseState.RECEIVED
    assert returns.do_refund(w.aftersales, case, "100").state == CaseState.REFUNDED  # at the limit: allowed
    other = returns.do_approve(w.agent, w.open(kind="refund_only", amount="150"))
    assert returns.do_refund(w.supervisor, other).refunded_amount == Decimal("150.00")


def test_deadlines_and_overdue(w):
    returns.do_update_settings(w.owner, approve_within_hours=2, refund_within_days=1)
    late = w.open()
    ReturnCase.objects.filter(pk=late.pk).update(approve_due_at=timezone.now() - dt.timedelta(minutes=1))
    fresh = w.open()
    assert fresh.approve_due_at - fresh.opened_at == dt.timedelta(hours=2)
    assert [c.pk for c in returns.cases_of(w.supervisor, overdue=True)] == [late.pk]
    assert returns.is_overdue(ReturnCase.objects.get(pk=late.pk)) and not returns.is_overdue(fresh)
    approved = returns.do_approve(w.agent, ReturnCase.objects.get(pk=late.pk))
    assert returns.due_at(approved) is None and not returns.cases_of(w.supervisor, overdue=True)


def test_sms_when_the_shopper_has_no_chat(w):
    order = Order.objects.create(shop=w.shop, order_no="SMS1", status=OrderStatus.DELIVERED, paid_amount=50,
                                 total_amount=50, created_at=timezone.now(), paid_at=timezone.now(),
                                 receiver_phone="13900002222")
    case = returns.do_open_case(w.agent, order, kind="refund_only", reason="quality", amount="10")
    notice = Notice.objects.get(key__startswith=f"aftersales-{case.pk}-")
    assert notice.channel == "sms" and notice.recipient == "13900002222"


def test_another_shops_order_and_photos_are_refused(w):
    other = ReturnWorld()
    with pytest.raises(Exception) as err, transaction.atomic():
        returns.do_open_case(w.agent, other.order(), kind="refund_only", reason="quality", amount="1")
    assert err.type.__name__ == "Http404"
    with pytest.raises(ValidationError, match="照片"), transaction.atomic():
        returns.do_open_case(w.agent, w.order(), kind="refund_only", reason="quality", amount="1",
                             conversation=w.conversation, photo_message_ids=[999999])
    with pytest.raises(Exception) as err, transaction.atomic():
        returns.access_case(other.owner, w.open().pk)
    assert err.type.__name__ == "Http404"
    deliver_all()
