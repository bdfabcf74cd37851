"""Routing: last seat first, then least-loaded under cap, else a FIFO queue that drains."""

from __future__ import annotations

import pytest

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role
from xiaoer.chat import services, writer
from xiaoer.chat.models import Conversation
from xiaoer.testing import make_seat, make_shop, make_staff, shopper_arrives

pytestmark = pytest.mark.django_db


def new_conversation(shop) -> Conversation:
    return shopper_arrives(shop).conversation


def fresh(conv: Conversation) -> Conversation:
    return Conversation.objects.select_related("seat").get(pk=conv.pk)


def test_new_shopper_goes_to_the_least_loaded_online_seat():
    shop = make_shop()
    busy = make_seat(shop, "小美", operator=make_staff(shop))
    quiet = make_seat(shop, "小雪", operator=make_staff(shop))
    make_seat(shop, "阿杰", operator=make_staff(shop), online=False)
    first, second, third = (new_conversation(shop) for _ in range(3))
    # ties go to the lower id, then the other seat, then back: loads stay balanced
    assert [first.seat, second.seat, third.seat] == [busy, quiet, busy]
    assert services.seat_loads(shop.pk) == {busy.pk: 2, quiet.pk: 1}


def test_returning_shopper_goes_back_to_the_seat_that_served_them(django_capture_on_commit_callbacks):
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    seat_a = make_seat(shop, "小美", operator=alice)
    seat_b = make_seat(shop, "小雪", operator=bob)
    loyal = new_conversation(shop)
    assert loyal.seat == seat_a
    services.do_set_seat_online(bob, seat_b, False)
    for _ in range(3):  # seat_a now carries more than seat_b
        new_conversation(shop)
    services.do_set_seat_online(bob, seat_b, True)
    loads = services.seat_loads(shop.pk)
    assert loads[seat_a.pk] == 4 and loads.get(seat_b.pk, 0) == 0
    services.do_resolve(alice, loyal)
    with django_capture_on_commit_callbacks(execute=True):  # reopen-on-message, after the commit
        writer.post_message_sync(loyal.pk, sender_kind="shopper", body="我又来了")
    assert fresh(loyal).seat == seat_a


def test_returning_shopper_whose_seat_is_offline_goes_to_least_loaded():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    seat_a = make_seat(shop, operator=alice)
    seat_b = make_seat(shop, operator=bob)
    loyal = new_conversation(shop)
    assert loyal.seat == seat_a
    services.do_resolve(alice, loyal)
    services.do_set_seat_online(alice, seat_a, False)
    services.reopen_for_shopper({loyal.pk})
    assert fresh(loyal).seat == seat_b


def test_returning_shopper_whose_seat_is_full_goes_elsewhere():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    seat_a = make_seat(shop, operator=alice, max_concurrent=1)
    seat_b = make_seat(shop, operator=bob, max_concurrent=5)
    loyal = new_conversation(shop)
    assert loyal.seat == seat_a
    services.do_resolve(alice, loyal)
    other = new_conversation(shop)
    assert other.seat == seat_a  # freed by the resolve, least loaded by count
    services.reopen_for_shopper({loyal.pk})
    assert fresh(loyal).seat == seat_b


def test_cap_then_queue_with_positions_then_drain_on_resolve():
    shop = make_shop()
    alice = make_staff(shop)
    seat = make_seat(shop, operator=alice, max_concurrent=2)
    served = [new_conversation(shop) for _ in range(2)]
    waiting = [new_conversation(shop) for _ in range(3)]
    assert all(c.seat == seat for c in served)
    assert [c.status for c in waiting] == ["queued"] * 3
    assert [services.queue_position(fresh(c)) for c in waiting] == [1, 2, 3]
    assert services.seat_loads(shop.pk) == {seat.pk: 2}

    services.do_resolve(alice, fresh(served[0]))

    assert fresh(waiting[0]).seat == seat and fresh(waiting[0]).status == "open"
    assert [services.queue_position(fresh(c)) for c in waiting[1:]] == [1, 2]
    assert services.seat_loads(shop.pk) == {seat.pk: 2}


def test_queue_drains_when_a_seat_comes_online_in_fifo_order():
    shop = make_shop()
    alice = make_staff(shop)
    seat = make_seat(shop, operator=alice, online=False, max_concurrent=2)
    waiting = [new_conversation(shop) for _ in range(3)]
    assert all(c.status == "queued" for c in waiting)
    services.do_set_seat_online(alice, seat, True)
    states = [(fresh(c).status, fresh(c).seat_id) for c in waiting]
    assert states == [("open", seat.pk), ("open", seat.pk), ("queued", None)]
    assert services.queue_position(fresh(waiting[2])) == 1


def test_newcomer_does_not_jump_the_queue():
    shop = make_shop()
    alice = make_staff(shop)
    seat = make_seat(shop, operator=alice, max_concurrent=1)
    first = new_conversation(shop)
    queued = new_conversation(shop)
    assert fresh(queued).status == "queued"
    # the seat frees up behind routing's back (e.g. a supervisor changed the cap)
    seat.max_concurrent = 2
    seat.save(update_fields=["max_concurrent"])
    newcomer = new_conversation(shop)
    assert fresh(queued).seat == seat  # the one waiting went first
    assert fresh(newcomer).status == "queued"
    assert first.seat == seat


def test_seat_without_operator_or_inactive_gets_nothing():
    shop = make_shop()
    lone = make_seat(shop)  # nobody operates it
    account_services.do_set_seat_online(lone, True)
    conv = new_conversation(shop)
    assert conv.status == "queued" and conv.seat is None


def test_supervisor_reassign_frees_capacity_for_the_queue():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    lead = make_staff(shop, Role.SUPERVISOR)
    seat_a = make_seat(shop, operator=alice, max_concurrent=1)
    seat_b = make_seat(shop, operator=bob, max_concurrent=1)
    one, two = new_conversation(shop), new_conversation(shop)
    queued = new_conversation(shop)
    assert {one.seat, two.seat} == {seat_a, seat_b} and queued.status == "queued"
    # bob's seat is given more room; moving alice's conversation there frees alice for the queue
    seat_b.max_concurrent = 3
    seat_b.save(update_fields=["max_concurrent"])
    on_a = one if one.seat == seat_a else two
    services.do_reassign(lead, on_a, seat_b, "平衡负载")
    assert fresh(on_a).seat == seat_b
    assert fresh(queued).seat == seat_a
