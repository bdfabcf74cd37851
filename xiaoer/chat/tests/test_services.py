"""Chat services: sessions and identity, transfer, resolve/reopen, seat handover, access rules."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, SeatAssignment
from xiaoer.chat import services, writer
from xiaoer.chat.models import Conversation, Message
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import CustomerNote
from xiaoer.testing import make_seat, make_shop, make_staff, owner_of, shopper_arrives

pytestmark = pytest.mark.django_db


def shopper_says(conv: Conversation, body: str) -> dict:
    return writer.post_message_sync(conv.pk, sender_kind="shopper", body=body)


def agent_says(conv: Conversation, body: str) -> dict:
    conv.refresh_from_db()
    return writer.post_message_sync(conv.pk, sender_kind="agent", body=body, seat_id=conv.seat_id,
                                    staff_id=conv.seat.operator_id)


# --- identity -------------------------------------------------------------------------------------

def test_anonymous_visitor_keeps_one_conversation_with_their_token():
    shop = make_shop()
    make_seat(shop, operator=make_staff(shop))
    first = services.start_shopper_session(shop)
    again = services.start_shopper_session(shop, visitor_token=first.visitor_token)
    stranger = services.start_shopper_session(shop)
    assert again.customer == first.customer and again.conversation == first.conversation
    assert stranger.conversation != first.conversation
    assert Conversation.objects.filter(customer=first.customer).count() == 1


def test_visitor_token_of_another_shop_is_not_an_identity():
    shop, other = make_shop(), make_shop()
    mine = services.start_shopper_session(shop)
    theirs = services.start_shopper_session(other, visitor_token=mine.visitor_token)
    assert theirs.customer.shop == other and theirs.customer.visitor_id != mine.customer.visitor_id


def test_buyer_link_gives_the_same_history_on_a_new_device():
    shop = make_shop()
    make_seat(shop, operator=make_staff(shop))
    link = services.make_buyer_link(shop, "tb_alice", name="Alice")
    value = link.split("buyer=", 1)[1]
    from urllib.parse import unquote

    phone = services.start_shopper_session(shop, buyer_signature=unquote(value))
    shopper_says(phone.conversation, "我在手机上问的")
    laptop = services.start_shopper_session(shop, buyer_signature=unquote(value))
    assert laptop.conversation == phone.conversation
    assert laptop.customer.buyer_id == "tb_alice" and laptop.customer.name == "Alice"
    bodies = [m["body"] for m in services.messages_page(laptop.conversation)[0]]
    assert bodies == ["我在手机上问的"]


def test_forged_foreign_or_expired_buyer_links_are_refused():
    shop, other = make_shop(), make_shop()
    good = services.make_buyer_signature(shop, "tb_bob")
    with pytest.raises(ValidationError):
        services.check_buyer_signature(other, good)
    with pytest.raises(ValidationError):
        services.check_buyer_signature(shop, good[:-2] + "xx")
    expired = services.make_buyer_signature(shop, "tb_bob", max_age=-1)
    with pytest.raises(ValidationError, match="过期"):
        services.check_buyer_signature(shop, expired)
    assert services.check_buyer_signature(shop, good) == ("tb_bob", "")


def test_shopper_token_names_shop_and_customer():
    from xiaoer.chat import auth

    shop = make_shop()
    session = services.start_shopper_session(shop)
    assert auth.read_shopper_token(session.token) == (shop.pk, session.customer.pk)


# --- transfer, resolve, reopen --------------------------------------------------------------------

def test_transfer_keeps_history_and_leaves_a_note_only_staff_see():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    seat_a = make_seat(shop, "小美", operator=alice)
    seat_b = make_seat(shop, "阿杰", operator=bob, online=False)
    conv = shopper_arrives(shop).conversation
    assert conv.seat == seat_a
    shopper_says(conv, "这件有货吗")
    agent_says(conv, "有的亲")

    services.do_transfer(alice, conv, seat_b, "顾客要退货，请阿杰跟进")

    conv.refresh_from_db()
    assert conv.seat == seat_b and conv.status == "open"
    assert conv.customer.last_seat == seat_b
    staff_view, _ = services.messages_page(conv)
    assert [m["body"] for m in staff_view[:2]] == ["这件有货吗", "有的亲"]
    event = staff_view[-1]
    assert event["internal"] and event["kind"] == "event" and "顾客要退货，请阿杰跟进" in event["body"]
    assert event["payload"]["to_seat"] == seat_b.pk
    shopper_view, _ = services.messages_page(conv, include_internal=False)
    assert [m["body"] for m in shopper_view] == ["这件有货吗", "有的亲"]


def test_agent_cannot_transfer_someone_elses_conversation_but_supervisor_can_reassign():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    lead = make_staff(shop, Role.SUPERVISOR)
    seat_a, seat_b = make_seat(shop, operator=alice), make_seat(shop, operator=bob)
    conv = shopper_arrives(shop).conversation
    owner_seat, other_seat = (seat_a, seat_b) if conv.seat == seat_a else (seat_b, seat_a)
    intruder = bob if owner_seat == seat_a else alice
    with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
        services.do_transfer(intruder, conv, other_seat)
    with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
        services.do_reassign(intruder, conv, other_seat)
    services.do_reassign(lead, conv, other_seat, "平衡负载")
    conv.refresh_from_db()
    assert conv.seat == other_seat


def test_transfer_to_a_seat_of_another_shop_is_not_found():
    shop, other = make_shop(), make_shop()
    alice = make_staff(shop)
    make_seat(shop, operator=alice)
    foreign = make_seat(other, operator=make_staff(other))
    conv = shopper_arrives(shop).conversation
    with pytest.raises(Http404), transaction.atomic():  # the test is the edge
        services.do_transfer(alice, conv, foreign)


def test_resolve_then_shopper_writes_again_reopens_to_the_same_seat(django_capture_on_commit_callbacks):
    shop = make_shop()
    alice = make_staff(shop)
    seat = make_seat(shop, operator=alice)
    conv = shopper_arrives(shop).conversation
    services.do_resolve(alice, conv)
    conv.refresh_from_db()
    assert conv.status == "resolved" and conv.resolved_at is not None

    with django_capture_on_commit_callbacks(execute=True):  # MessagesCommitted → reopen-on-message
        shopper_says(conv, "还有一个问题")
    conv.refresh_from_db()
    assert conv.status == "open" and conv.seat == seat


def test_message_stored_before_the_resolve_does_not_reopen(django_capture_on_commit_callbacks):
    shop = make_shop()
    alice = make_staff(shop)
    make_seat(shop, operator=alice)
    conv = shopper_arrives(shop).conversation
    with django_capture_on_commit_callbacks() as delivery:
        shopper_says(conv, "谢谢")
    services.do_resolve(alice, conv)
    for callback in delivery:  # the message's event is delivered after the resolve
        callback()
    conv.refresh_from_db()
    assert conv.status == "resolved"


def test_staff_reopen_and_claim():
    shop = make_shop()
    alice = make_staff(shop)
    seat = make_seat(shop, operator=alice, online=False)
    conv = shopper_arrives(shop).conversation
    assert conv.status == "queued"
    services.do_claim(alice, conv, seat)
    conv.refresh_from_db()
    assert conv.status == "open" and conv.seat == seat
    with pytest.raises(ValidationError), transaction.atomic():  # the test is the edge
        services.do_claim(alice, conv, seat)
    services.do_resolve(alice, conv)
    services.do_reopen(alice, conv)
    conv.refresh_from_db()
    assert conv.status == "open" and conv.seat == seat


# --- seats ----------------------------------------------------------------------------------------

def test_seat_handover_keeps_conversations_notes_and_history():
    shop = make_shop()
    leaving, newcomer = make_staff(shop), make_staff(shop)
    lead = make_staff(shop, Role.SUPERVISOR)
    seat = make_seat(shop, "小美", operator=leaving)
    session = shopper_arrives(shop)
    conv = session.conversation
    shopper_says(conv, "上次的袜子很好穿")
    customer_services.do_add_note(leaving, session.customer, "老顾客，喜欢纯棉", seat=seat)

    account_services.do_hand_over_seat(lead, seat, newcomer)

    conv.refresh_from_db()
    seat.refresh_from_db()
    assert seat.operator == newcomer
    assert conv.seat == seat and conv.status == "open"
    assert [c.pk for c in services.list_conversations(newcomer, "mine")] == [conv.pk]
    assert services.list_conversations(leaving, "mine") == []
    note = CustomerNote.objects.get(customer=session.customer)
    assert note.seat == seat and note.author == leaving
    history = list(SeatAssignment.objects.filter(seat=seat).order_by("started_at"))
    assert [a.staff for a in history] == [leaving, newcomer] and history[1].assigned_by == lead
    assert Message.objects.filter(conversation=conv).count() == 1


def test_only_supervisors_hand_over_seats():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    seat = make_seat(shop, operator=alice)
    with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
        account_services.do_hand_over_seat(alice, seat, bob)


def test_agent_toggles_only_their_own_seat():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    seat = make_seat(shop, operator=alice, online=False)
    with pytest.raises(PermissionDenied), transaction.atomic():  # the test is the edge
        services.do_set_seat_online(bob, seat, True)
    services.do_set_seat_online(alice, seat, True)
    seat.refresh_from_db()
    assert seat.is_online


# --- access ---------------------------------------------------------------------------------------

def test_access_conversation_is_scoped_to_shop_and_role():
    shop, other = make_shop(), make_shop()
    make_seat(shop, operator=make_staff(shop))
    conv = shopper_arrives(shop).conversation
    with pytest.raises(Http404):
        services.access_conversation(owner_of(other), conv.pk)
    with pytest.raises(Http404):
        services.access_conversation(owner_of(shop), 10**9)
    with pytest.raises(PermissionDenied):
        services.access_conversation(make_staff(shop, Role.WAREHOUSE), conv.pk)
    with pytest.raises(PermissionDenied):
        services.access_conversation(None, conv.pk)
    assert services.access_conversation(owner_of(shop), conv.pk) == conv


def test_messages_page_scrolls_back_in_order():
    shop = make_shop()
    make_seat(shop, operator=make_staff(shop))
    conv = shopper_arrives(shop).conversation
    for i in range(7):
        shopper_says(conv, f"m{i}")
    newest, more = services.messages_page(conv, limit=3)
    assert [m["body"] for m in newest] == ["m4", "m5", "m6"] and more
    older, more = services.messages_page(conv, before=newest[0]["seq"], limit=3)
    assert [m["body"] for m in older] == ["m1", "m2", "m3"] and more
    oldest, more = services.messages_page(conv, before=older[0]["seq"], limit=3)
    assert [m["body"] for m in oldest] == ["m0"] and not more


def test_list_puts_the_longest_waiting_shopper_on_top():
    shop = make_shop()
    alice = make_staff(shop)
    make_seat(shop, operator=alice)
    convs = [shopper_arrives(shop).conversation for _ in range(3)]
    shopper_says(convs[1], "先来的")
    time.sleep(0.01)
    shopper_says(convs[2], "后来的")
    agent_says(convs[1], "已回复")  # answered: no longer waiting
    shopper_says(convs[0], "最后来的")
    order = [c.pk for c in services.list_conversations(alice, "mine")]
    assert order[:2] == [convs[2].pk, convs[0].pk]


def test_account_services_refuse_foreign_staff_for_seats():
    shop, other = make_shop(), make_shop()
    seat = make_seat(shop)
    with pytest.raises(Http404):
        account_services.do_assign_seat(seat, make_staff(other))
