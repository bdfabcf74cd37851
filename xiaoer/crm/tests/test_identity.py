"""Merging two customers of one person and anonymising one on request (docs/customers-import.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from xiaoer.accounts.models import Role
from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation, Message
from xiaoer.crm import identity
from xiaoer.crm.events import CustomerAnonymised, CustomersMerged
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import (
    CustomAttribute,
    Customer,
    CustomerAttributeValue,
    CustomerContact,
    CustomerNote,
    CustomerTag,
    Tag,
)
from xiaoer.events.models import OutboxEvent
from xiaoer.events.testing import deliver_all, subscribed
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order, OrderSource
from xiaoer.testing import client_for, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


def order_for(customer: Customer, no: str, amount: str = "100.00") -> Order:
    return Order.objects.create(shop_id=customer.shop_id, order_no=no, buyer=customer, status="paid",
                                total_amount=Decimal(amount), paid_amount=Decimal(amount),
                                receiver_name="王五", receiver_phone="13800000001", receiver_address="杭州市文三路1号",
                                buyer_message="请放门口", created_at=timezone.now() - dt.timedelta(days=3),
                                paid_at=timezone.now() - dt.timedelta(days=3))


@pytest.fixture
def pair():
    """A known buyer A and the same person as an anonymous visitor B, each with their own history."""
    shop = make_shop()
    supervisor = make_staff(shop, Role.SUPERVISOR)
    seat = make_seat(shop, "小美", operator=make_staff(shop, Role.AGENT))
    known = chat_services.start_shopper_session(shop, buyer_signature=chat_services.make_buyer_signature(
        shop, "tb_wang", name="王五"))
    visitor = chat_services.start_shopper_session(shop)
    a, b = known.customer, visitor.customer
    writer.post_message_sync(known.conversation.pk, sender_kind="shopper", body="我是老客")
    writer.post_message_sync(visitor.conversation.pk, sender_kind="shopper", body="我的手机 13900000002")
    order_for(a, "A-1")
    order_for(b, "B-1", "50.00")
    customer_services.do_add_note(supervisor, b, "访客时留的备注", seat=seat)
    vip, new = Tag.objects.create(shop=shop, name="VIP"), Tag.objects.create(shop=shop, name="新客")
    CustomerTag.objects.create(shop=shop, customer=a, tag=vip)
    CustomerTag.objects.create(shop=shop, customer=b, tag=vip)
    CustomerTag.objects.create(shop=shop, customer=b, tag=new)
    CustomerContact.objects.create(shop=shop, customer=a, kind="phone", value="13800000001", is_default=True)
    CustomerContact.objects.create(shop=shop, customer=b, kind="phone", value="13900000002", is_default=True)
    CustomerContact.objects.create(shop=shop, customer=b, kind="phone", value="13800000001")
    size = CustomAttribute.objects.create(shop=shop, key="size", label="尺码")
    CustomerAttributeValue.objects.create(shop=shop, customer=b, attribute=size, value="L")
    Customer.objects.filter(pk=b.pk).update(qq="12345678")
    return {"shop": shop, "supervisor": supervisor, "a": a, "b": b, "visitor_token": visitor.visitor_token,
            "conv_a": known.conversation, "conv_b": visitor.conversation}


def test_merge_keeps_every_conversation_order_note_tag_contact_and_attribute(pair):
    a, b = pair["a"], pair["b"]
    seen = []
    with subscribed(CustomersMerged, seen.append, name="test.merged"):
        result = identity.do_merge_customers(pair["supervisor"], a, b)
        deliver_all()
    assert not result.already
    assert [(e.kept_id, e.merged_id, e.staff_id) for e in seen] == [(a.pk, b.pk, pair["supervisor"].pk)]
    assert set(Conversation.objects.filter(customer=a).values_list("pk", flat=True)) == {
        pair["conv_a"].pk, pair["conv_b"].pk}
    assert Message.objects.filter(conversation__customer=a).count() == 2
    assert set(Order.objects.filter(buyer=a).values_list("order_no", flat=True)) == {"A-1", "B-1"}
    assert list(CustomerNote.objects.filter(customer=a).values_list("text", flat=True)) == ["访客时留的备注"]
    assert set(CustomerTag.objects.filter(customer=a).values_list("tag__name", flat=True)) == {"VIP", "新客"}
    phones = set(CustomerContact.objects.filter(customer=a).values_list("value", "is_default"))
    assert phones == {("13800000001", True), ("13900000002", False)}  # one default per kind
    assert a.attribute_values.get().value == "L"
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.qq, a.visitor_id is not None, a.buyer_id) == ("12345678", True, "tb_wang")  # blanks filled
    assert b.merged_into_id == a.pk and b.visitor_id is None  # the visitor id moved to A
    assert not CustomerTag.objects.filter(customer=b).exists() and not b.contacts.exists()


def test_merging_again_changes_nothing_and_emits_nothing(pair):
    identity.do_merge_customers(pair["supervisor"], pair["a"], pair["b"])
    events = OutboxEvent.objects.filter(name=CustomersMerged.name)
    assert events.count() == 1
    again = identity.do_merge_customers(pair["supervisor"], pair["a"], pair["b"])
    assert again.already and events.count() == 1
    with pytest.raises(ValidationError), transaction.atomic():  # the opposite direction: a cycle
        identity.do_merge_customers(pair["supervisor"], pair["b"], pair["a"])


def test_the_visitor_token_of_the_merged_customer_lands_on_the_kept_one(pair):
    identity.do_merge_customers(pair["supervisor"], pair["a"], pair["b"])
    session = chat_services.start_shopper_session(pair["shop"], visitor_token=pair["visitor_token"])
    assert session.customer.pk == pair["a"].pk
    assert session.conversation.customer_id == pair["a"].pk


def test_two_visitors_merged_keep_the_second_id_which_still_resolves():
    shop = make_shop()
    first, second = chat_services.start_shopper_session(shop), chat_services.start_shopper_session(shop)
    identity.do_merge_customers(owner_of(shop), first.customer, second.customer)
    merged = Customer.objects.get(pk=second.customer.pk)
    assert merged.visitor_id and merged.merged_into_id == first.customer.pk  # A had one: B keeps its own
    again = chat_services.start_shopper_session(shop, visitor_token=second.visitor_token)
    assert again.customer.pk == first.customer.pk


def test_orders_imported_later_under_the_merged_buyer_id_go_to_the_kept_customer():
    shop = make_shop()
    keep = customer_services.get_or_create_buyer(shop, "tb_main")
    other = customer_services.get_or_create_buyer(shop, "tb_alt")
    identity.do_merge_customers(owner_of(shop), keep, other)
    order_services.upsert_orders(shop, [{"order_no": "N-1", "buyer_id": "tb_alt", "created_at": timezone.now()}],
                                 source=OrderSource.IMPORT)
    assert Order.objects.get(order_no="N-1").buyer_id == keep.pk
    assert customer_services.get_or_create_buyer(shop, "tb_alt").pk == keep.pk


def test_merge_is_for_supervisors_and_owners_of_the_shop(pair):
    agent = make_staff(pair["shop"], Role.AGENT)
    with pytest.raises(PermissionDenied), transaction.atomic():
        identity.do_merge_customers(agent, pair["a"], pair["b"])
    stranger = owner_of(make_shop())
    with pytest.raises(Http404), transaction.atomic():
        identity.do_merge_customers(stranger, pair["a"], pair["b"])
    with pytest.raises(ValidationError), transaction.atomic():
        identity.do_merge_customers(pair["supervisor"], pair["a"], pair["a"])
    assert Customer.objects.get(pk=pair["b"].pk).merged_into_id is None


def test_merge_page_previews_then_merges_and_the_api_is_idempotent(pair):
    client = client_for(pair["supervisor"])
    url = f"/desk/customers/{pair['a'].pk}/merge"
    preview = client.get(url, {"other": pair["b"].pk}).content.decode()
    assert "确认合并" in preview and "139****0002" not in preview  # B has no quick-copy phone
    done = client.post(url, {"other": pair["b"].pk, "confirm": "1"})
    assert "已合并" in done.content.decode()
    assert Customer.objects.get(pk=pair["b"].pk).merged_into_id == pair["a"].pk
    res = client.post(f"/api/crm/customers/{pair['a'].pk}/merge", {"other": str(pair["b"].pk)},
                      content_type="application/json")
    assert res.status_code == 200 and res.json()["already"] is True
    assert client.post(f"/api/crm/customers/{pair['a'].pk}/merge", {"other": "nobody"},
                       content_type="application/json").status_code == 400


def test_phones_are_masked_on_the_merge_page_for_roles_outside_phone_visible(pair, settings):
    Customer.objects.filter(pk=pair["a"].pk).update(phone="13800001234")
    settings.PHONE_VISIBLE_ROLES = {Role.OWNER}
    body = client_for(pair["supervisor"]).get(f"/desk/customers/{pair['a'].pk}/merge").content.decode()
    assert "138****1234" in body and "13800001234" not in body
    body = client_for(owner_of(pair["shop"])).get(f"/desk/customers/{pair['a'].pk}/merge").content.decode()
    assert "13800001234" in body


# --- anonymising ----------------------------------------------------------------------------------

def test_anonymise_clears_personal_data_but_keeps_orders_amounts_and_attribution(pair):
    identity.do_merge_customers(pair["supervisor"], pair["a"], pair["b"])
    a = Customer.objects.get(pk=pair["a"].pk)
    Customer.objects.filter(pk=a.pk).update(phone="13800000001", email="w@example.com", city="杭州市",
                                            birth_date=dt.date(1990, 5, 6), birthday_month=5, birthday_day=6)
    seat = make_seat(pair["shop"], "小丽")
    Order.objects.filter(buyer=a).update(attributed_seat=seat)
    seen = []
    with subscribed(CustomerAnonymised, seen.append, name="test.anonymised"):
        identity.do_anonymise_customer(owner_of(pair["shop"]), a)
        deliver_all()
    assert [e.customer_id for e in seen] == [a.pk]
    a.refresh_from_db()
    assert a.anonymised_at is not None
    assert (a.name, a.phone, a.email, a.city, a.qq, a.buyer_id, a.visitor_id, a.birth_date, a.birthday_month) == (
        "", "", "", "", "", None, None, None, None)
    assert not a.contacts.exists() and not a.tag_links.exists() and not a.attribute_values.exists()
    assert set(a.notes.values_list("text", flat=True)) == {identity.ANONYMISED}
    assert set(Message.objects.filter(conversation__customer=a).values_list("body", flat=True)) == {
        identity.ANONYMISED}
    orders = Order.objects.filter(buyer=a).order_by("order_no")
    assert [(o.order_no, o.paid_amount, o.attributed_seat_id) for o in orders] == [
        ("A-1", Decimal("100.00"), seat.pk), ("B-1", Decimal("50.00"), seat.pk)]
    assert {(o.receiver_name, o.receiver_phone, o.buyer_message) for o in orders} == {(identity.ANONYMISED, "", "")}
    merged = Customer.objects.get(pk=pair["b"].pk)
    assert merged.anonymised_at is not None and merged.visitor_id is None
    # A later visit with the old signed buyer link is a new customer, not the anonymised one.
    fresh = customer_services.get_or_create_buyer(pair["shop"], "tb_wang")
    assert fresh.pk != a.pk and fresh.anonymised_at is None


def test_anonymise_is_for_owners_only_and_the_page_asks_for_confirmation(pair):
    with pytest.raises(PermissionDenied), transaction.atomic():
        identity.do_anonymise_customer(pair["supervisor"], pair["a"])
    url = f"/desk/customers/{pair['a'].pk}/anonymise"
    assert client_for(pair["supervisor"]).get(url).status_code == 403
    owner = client_for(owner_of(pair["shop"]))
    assert "永久匿名化" in owner.get(url).content.decode()
    assert "确认" in owner.post(url, {"confirm": "好的"}).content.decode()
    assert Customer.objects.get(pk=pair["a"].pk).anonymised_at is None
    assert "已清除" in owner.post(url, {"confirm": "匿名"}).content.decode()
    assert Customer.objects.get(pk=pair["a"].pk).anonymised_at is not None
    with pytest.raises(ValidationError), transaction.atomic():  # an anonymised one can't be merged
        identity.do_merge_customers(pair["supervisor"], pair["a"], pair["b"])


def _at_once(*calls) -> list:
    """Run CALLS in threads started together, each in its own transaction; their results or errors."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def worker(i: int, call) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                outcomes[i] = call()
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_concurrent_merges_merge_once_and_never_make_a_cycle():
    """Both rows are locked (docs/decisions/151): the same merge twice at once merges once; A into
    B and B into A at once: one wins, the other is refused (SQLite here; PostgreSQL in
    test_races_postgres.py)."""
    shop = make_shop()
    owner = owner_of(shop)
    a, b = (customer_services.get_or_create_buyer(shop, f"tb_{n}") for n in "ab")
    order_for(b, "B-1")
    same = _at_once(lambda: identity.do_merge_customers(owner, a, b), lambda: identity.do_merge_customers(owner, a, b))
    assert sorted(r.already for r in same) == [False, True]
    assert OutboxEvent.objects.filter(name=CustomersMerged.name).count() == 1
    assert Order.objects.get(order_no="B-1").buyer_id == a.pk
    c, d = (customer_services.get_or_create_buyer(shop, f"tb_{n}") for n in "cd")
    crossed = _at_once(lambda: identity.do_merge_customers(owner, c, d), lambda: identity.do_merge_customers(owner, d, c))
    assert sorted(type(r).__name__ for r in crossed) == ["MergeResult", "ValidationError"]
    pointers = dict(Customer.objects.filter(pk__in=[c.pk, d.pk]).values_list("pk", "merged_into_id"))
    assert pointers in ({c.pk: None, d.pk: c.pk}, {c.pk: d.pk, d.pk: None})  # one merge, no cycle


def test_after_a_merge_the_kept_customer_is_worth_both_order_histories(pair):
    """The value projection listens to CustomersMerged: A's value counts B's orders at once, not
    only after the next daily rebuild."""
    from xiaoer.crm.models import CustomerValue
    from xiaoer.crm.value import recompute_customers

    a, b = pair["a"], pair["b"]
    recompute_customers(pair["shop"].pk, [a.pk, b.pk])
    identity.do_merge_customers(pair["supervisor"], a, b)
    deliver_all()
    value = CustomerValue.objects.get(customer=a)
    assert (value.paid_orders, value.total_paid) == (2, Decimal("150.00"))
    assert not CustomerValue.objects.filter(customer=b).exists()
