"""Accounts events (docs/events.md): handovers and access changes land in the outbox in the
write's transaction — through the services and through plain model saves (Django admin) alike,
once each — and saves that change nobody's access emit nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from xiaoer.accounts import services
from xiaoer.accounts.models import Role
from xiaoer.events.models import OutboxEvent
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db


def _events(name: str) -> list[dict]:
    return [e.payload for e in OutboxEvent.objects.filter(name=name).order_by("id")]


def test_handover_by_a_supervisor_emits_one_event_with_both_people():
    shop = make_shop()
    leaving, arriving = make_staff(shop), make_staff(shop)
    lead = make_staff(shop, role=Role.SUPERVISOR)
    seat = make_seat(shop, operator=leaving)
    OutboxEvent.objects.all().delete()

    services.do_hand_over_seat(lead, seat, arriving)
    services.do_hand_over_seat(lead, seat, arriving)  # no change: no event
    services.do_hand_over_seat(lead, seat, None)

    assert _events("accounts.SeatHandedOver") == [
        {"shop_id": shop.pk, "seat_id": seat.pk, "from_staff_id": leaving.pk, "to_staff_id": arriving.pk,
         "by_staff_id": lead.pk},
        {"shop_id": shop.pk, "seat_id": seat.pk, "from_staff_id": arriving.pk, "to_staff_id": None,
         "by_staff_id": lead.pk}]


def test_only_supervisors_hand_over_and_a_refusal_emits_nothing():
    shop = make_shop()
    alice, bob = make_staff(shop), make_staff(shop)
    seat = make_seat(shop, operator=alice)
    before = OutboxEvent.objects.count()
    with pytest.raises(PermissionDenied):
        services.do_hand_over_seat(alice, seat, bob)
    assert OutboxEvent.objects.count() == before


def test_admin_saves_emit_the_same_events_and_unrelated_saves_none(django_assert_num_queries):
    shop = make_shop()
    agent, other = make_staff(shop), make_staff(shop)
    seat = make_seat(shop, operator=agent)
    OutboxEvent.objects.all().delete()

    with django_assert_num_queries(1):  # the UPDATE only: renaming costs no look-up, emits nothing
        seat.display_name = "小美2"
        seat.save(update_fields=["display_name"])
    agent.display_name = "新名字"
    agent.save()
    assert OutboxEvent.objects.count() == 0

    seat.operator = other  # a plain save, as Django admin does
    seat.save()
    seat.is_active = False
    seat.save()
    agent.role = Role.SUPERVISOR
    agent.save()
    other.is_active = False
    other.save()
    assert _events("accounts.SeatHandedOver") == [
        {"shop_id": shop.pk, "seat_id": seat.pk, "from_staff_id": agent.pk, "to_staff_id": other.pk,
         "by_staff_id": None},
        {"shop_id": shop.pk, "seat_id": seat.pk, "from_staff_id": other.pk, "to_staff_id": None,
         "by_staff_id": None}]
    assert _events("accounts.StaffAccessChanged") == [
        {"shop_id": shop.pk, "staff_id": agent.pk, "can_chat": True, "role": "supervisor", "supervisor": True},
        {"shop_id": shop.pk, "staff_id": other.pk, "can_chat": False, "role": "agent", "supervisor": False}]

    user = agent.user
    user.is_active = False
    user.save()
    agent_id = agent.pk
    agent.delete()
    assert [(e["staff_id"], e["can_chat"], e["role"]) for e in _events("accounts.StaffAccessChanged")[2:]] == [
        (agent_id, False, "supervisor"), (agent_id, False, "")]
